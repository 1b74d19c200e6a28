import { registerActivity } from './catalogue';
import { inspectNode } from '../src/adapters/postgres/inspect';
import { clusterServices } from '../src/app/services';
import { replicationSecrets, runVmScript } from '../src/app/vm-scripts';
import { StaleDecisionError } from '../src/domain/errors';
import { followTargetRefusal } from '../src/domain/role-guards';
import { followPrimary } from '../src/vm-scripts/catalogue';

/**
 * A running standby streams from the new primary (primary_conninfo is reloadable since PG 13) —
 * only if that node is a primary now: a decision taken before a restart must not point a standby
 * at a node that is no longer the primary (docs/invariants.md S4, S9).
 */
registerActivity('followPrimary', async ({ cluster, node, primary }) => {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const refusal = followTargetRefusal(primary, await inspectNode(primary, await services.adminEndpoint(primary), { connectTimeoutMs: timeout, statementTimeoutMs: timeout }));
  if (refusal) throw new StaleDecisionError(refusal, { cluster, node, step: 'followPrimary' });
  const { replicationPassword } = await replicationSecrets(services);
  const followed = await runVmScript(services, node, followPrimary(services.config, services.node(node), services.node(primary), { replicationPassword }));
  return { senderHost: followed.senderHost, receivedTimeline: followed.receivedTimeline };
});
