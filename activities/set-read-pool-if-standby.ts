import { registerClientActivity } from './durable-client-activity';
import { inspectNode } from '../src/adapters/postgres/inspect';
import { clusterServices } from '../src/app/services';
import { holdOn } from '../src/domain/maintenance-hold';
import { readHealthState } from '../src/functions/health-check-client';

/**
 * Into the read pool, but only a node that is in recovery right now (docs/invariants.md S2, S5): a
 * rejoin or a read-pool action decided on an older look must not put a node that was promoted
 * meanwhile (a switchover racing it) into the read pool — nor, through a later pool change, empty
 * the write pool. The check and the pool change are as close together as one activity can put them.
 * Nor a node held for planned maintenance (src/domain/maintenance-hold.ts): a rejoin that finishes
 * while its node waits for a reboot must not send it reads. The holds are read from the monitor's
 * published state — except when the monitor itself asks: its verdict weighed this turn's holds, and
 * it publishes them only after acting (no hold can be added meanwhile: it applies one event at a
 * time, and an approval takes its node out of the pools only once its hold was applied).
 */
registerClientActivity('setReadPoolIfStandby', async ({ cluster, node, holdsWeighed }, client) => {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const [now, health] = await Promise.all([
    inspectNode(node, await services.adminEndpoint(node), { connectTimeoutMs: timeout, statementTimeoutMs: timeout }),
    holdsWeighed ? undefined : readHealthState(client, cluster),
  ]);
  if (!now.reachable) return { changed: false, refused: `${node} does not answer (${now.error}): not put into the read pool` };
  if (now.role !== 'standby') return { changed: false, refused: `${node} is not in recovery (it is a ${now.role}): not put into the read pool` };
  const hold = holdOn(health?.maintenanceHolds, node);
  if (hold) return { changed: false, refused: `${node} is held for its maintenance (${hold.event}, until ${hold.until} at the latest): not put into the read pool until it is over` };
  const pools = await services.loadBalancer.readPools();
  if (pools.write.includes(node)) return { changed: false, refused: `${node} is in the write pool: not moved to the read pool` };
  const { changed } = await services.loadBalancer.setRole(services.node(node), 'read');
  return { changed, refused: null };
});
