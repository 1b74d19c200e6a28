import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { inspectVm } from '../src/vm-scripts/catalogue';

/**
 * For a node the app cannot reach: is its VM running, and does a postmaster run on it (frozen or
 * cut off) or not (crashed, stopped)? Only the second kind can be rejoined now.
 */
registerActivity('inspectVm', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const vm = services.node(node);
  const powerState = await services.fencing.powerState(vm);
  if (powerState !== 'running') return { powerState, serverRunning: null, clusterState: null, detail: `the VM is ${powerState}` };
  try {
    const inspected = await runVmScript(services, node, inspectVm(services.config, vm, { waitSeconds: 10 }));
    return { powerState, serverRunning: inspected.running, clusterState: inspected.clusterState, detail: null };
  } catch (error) {
    return { powerState, serverRunning: null, clusterState: null, detail: (error as Error).message };
  }
});
