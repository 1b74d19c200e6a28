import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { startServer } from '../src/vm-scripts/catalogue';

/**
 * Starts PostgreSQL on the VM. With startAs 'primary' (the undo of stopPostgres when an operation
 * rolls back) it removes the standby.signal the stop left, only after a primary's clean shutdown,
 * and fails unless the node comes back as the primary; without it the node starts as configured.
 */
registerActivity('startPostgres', async ({ cluster, node, startAs }) => {
  const services = clusterServices(cluster);
  const started = await runVmScript(services, node, startServer(services.config, services.node(node), startAs ? { startAs } : {}));
  return { alreadyRunning: started.alreadyRunning, role: started.role };
});
