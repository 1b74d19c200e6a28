import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { stopCleanly } from '../src/vm-scripts/catalogue';

/** Fast shutdown on the VM; reports the shutdown checkpoint that pg_controldata records. */
registerActivity('stopPostgres', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const stopped = await runVmScript(services, node, stopCleanly(services.config, services.node(node)));
  return { checkpointLsn: stopped.checkpointLsn, timeline: stopped.timeline };
});
