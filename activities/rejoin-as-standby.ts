import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { replicationSecrets, runVmScript } from '../src/app/vm-scripts';
import { rejoinAsStandby } from '../src/vm-scripts/catalogue';

/** The old primary comes back as a standby: plain follow, else pg_rewind, else pg_basebackup. */
registerActivity('rejoinAsStandby', async ({ cluster, node, primary }) => {
  const services = clusterServices(cluster);
  const rejoined = await runVmScript(services, node, rejoinAsStandby(services.config, services.node(node), services.node(primary), await replicationSecrets(services)));
  return { method: rejoined.method };
});
