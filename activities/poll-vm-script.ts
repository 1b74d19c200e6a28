import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { longVmScript } from '../src/app/long-vm-scripts';
import { VmCommandRunNotFoundError, VmScriptFailedError } from '../src/ports/errors';
import { VmScriptResultError } from '../src/vm-scripts/catalogue';

/**
 * One look at a long VM script startVmScript started. Its end is read once — the run is deleted
 * then — so a failed script is returned as an answer, not thrown: a retry of a thrown failure
 * would find no run left to read.
 */
registerActivity('pollVmScript', async ({ cluster, node, script, run }) => {
  const services = clusterServices(cluster);
  try {
    const progress = await services.vmCommands.poll(services.node(node), run);
    if (!progress.done) return { state: 'running', executionState: progress.executionState };
    return { state: 'succeeded', result: longVmScript(script).read(progress.outcome.result) };
  } catch (error) {
    if (error instanceof VmScriptFailedError || error instanceof VmScriptResultError) return { state: 'failed', error: error.message };
    if (error instanceof VmCommandRunNotFoundError) return { state: 'gone', detail: error.message };
    throw error;
  }
});
