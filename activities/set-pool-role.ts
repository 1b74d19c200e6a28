import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';

registerActivity('setPoolRole', async ({ cluster, node, role }) => {
  const services = clusterServices(cluster);
  return services.loadBalancer.setRole(services.node(node), role);
});
