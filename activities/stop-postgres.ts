import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { stopCleanly } from '../src/vm-scripts/catalogue';

/**
 * Fast shutdown on the VM; reports the shutdown checkpoint that pg_controldata records. The node
 * is left configured to start as a standby (S8: a reboot or a service restart never brings back a
 * writable primary): of `follow` (the switchover candidate, the current primary), or, with
 * `follow: null`, with the primary_conninfo it already has. Only startPostgres with startAs
 * 'primary' (a rollback) brings it back as the primary.
 */
registerActivity('stopPostgres', async ({ cluster, node, follow }) => {
  const services = clusterServices(cluster);
  const stopped = await runVmScript(services, node, stopCleanly(services.config, services.node(node), follow ? { primary: services.node(follow) } : null));
  return { checkpointLsn: stopped.checkpointLsn, timeline: stopped.timeline, restartsAs: stopped.restartsAs, follows: follow };
});
