import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { askNodeAgent, runVmScript } from '../src/app/vm-scripts';
import { inspectVm, UNREACHABLE_NODE_ANSWER_SECONDS } from '../src/vm-scripts/catalogue';

/**
 * For a node the app cannot reach: is its VM running, and does a postmaster run on it (frozen or
 * cut off) or not (crashed, stopped)? Only the second kind can be rejoined now. With node agents
 * the node itself is asked first, as ensure-postgres-stopped does: an answer means its VM runs, and
 * no ARM call is made (ARM may be down, and a failover's rejoin waits on this).
 */
registerActivity('inspectVm', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const vm = services.node(node);
  const call = { ...inspectVm(services.config, vm, { waitSeconds: 10 }), answerWithinSeconds: UNREACHABLE_NODE_ANSWER_SECONDS };
  // The agent alone, not its Run Command fallback: that would be slow on a VM that is off.
  const asked = await askNodeAgent(services, node, call).catch(() => undefined);
  if (asked) return { powerState: 'running', serverRunning: asked.running, clusterState: asked.clusterState, detail: null };
  const powerState = await services.fencing.powerState(vm);
  if (powerState !== 'running') return { powerState, serverRunning: null, clusterState: null, detail: `the VM is ${powerState}` };
  try {
    const inspected = await runVmScript(services, node, call);
    return { powerState, serverRunning: inspected.running, clusterState: inspected.clusterState, detail: null };
  } catch (error) {
    return { powerState, serverRunning: null, clusterState: null, detail: (error as Error).message };
  }
});
