import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { longVmScript } from '../src/app/long-vm-scripts';

/**
 * Starts a long VM script (src/app/long-vm-scripts.ts) as a managed Run Command with
 * asyncExecution and returns as soon as Azure has started it: nothing here waits for the script,
 * so no attempt comes near host.json's functionTimeout (docs/azure-platform.md item 4). A retry
 * finds the run its earlier attempt started (same `runName`) and starts nothing.
 */
registerActivity('startVmScript', async ({ cluster, node, script, input, runName }) => {
  const services = clusterServices(cluster);
  const call = await longVmScript(script).prepare(services, node, input);
  return services.vmCommands.start(services.node(node), {
    script: call.script,
    parameters: call.parameters,
    ...('secrets' in call ? { secrets: call.secrets } : {}),
    timeoutSeconds: call.timeoutSeconds,
    runName,
  });
});
