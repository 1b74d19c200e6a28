import { registerActivity } from './catalogue';
import { inspectNode } from '../src/adapters/postgres/inspect';
import { clusterServices } from '../src/app/services';

/**
 * Into the read pool, but only a node that is in recovery right now (docs/invariants.md S2, S5): a
 * rejoin or a read-pool action decided on an older look must not put a node that was promoted
 * meanwhile (a switchover racing it) into the read pool — nor, through a later pool change, empty
 * the write pool. The check and the pool change are as close together as one activity can put them.
 */
registerActivity('setReadPoolIfStandby', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const now = await inspectNode(node, await services.adminEndpoint(node), { connectTimeoutMs: timeout, statementTimeoutMs: timeout });
  if (!now.reachable) return { changed: false, refused: `${node} does not answer (${now.error}): not put into the read pool` };
  if (now.role !== 'standby') return { changed: false, refused: `${node} is not in recovery (it is a ${now.role}): not put into the read pool` };
  const pools = await services.loadBalancer.readPools();
  if (pools.write.includes(node)) return { changed: false, refused: `${node} is in the write pool: not moved to the read pool` };
  const { changed } = await services.loadBalancer.setRole(services.node(node), 'read');
  return { changed, refused: null };
});
