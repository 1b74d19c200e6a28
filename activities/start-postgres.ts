import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { startServer } from '../src/vm-scripts/catalogue';

registerActivity('startPostgres', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const started = await runVmScript(services, node, startServer(services.config, services.node(node)));
  return { alreadyRunning: started.alreadyRunning };
});
