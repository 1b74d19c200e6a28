import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';

/** Fencing through the platform: hard power-off of the node's VM (no guest shutdown), then its power state. Idempotent. */
registerActivity('fenceVm', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const vm = services.node(node);
  await services.fencing.powerOff(vm);
  return { powerState: await services.fencing.powerState(vm) };
});
