import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { replicationSecrets, runVmScript } from '../src/app/vm-scripts';
import { followPrimary } from '../src/vm-scripts/catalogue';

/** A running standby streams from the new primary (primary_conninfo is reloadable since PG 13). */
registerActivity('followPrimary', async ({ cluster, node, primary }) => {
  const services = clusterServices(cluster);
  const { replicationPassword } = await replicationSecrets(services);
  const followed = await runVmScript(services, node, followPrimary(services.config, services.node(node), services.node(primary), { replicationPassword }));
  return { senderHost: followed.senderHost, receivedTimeline: followed.receivedTimeline };
});
