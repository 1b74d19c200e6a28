import type { ClusterView } from '../domain/cluster-view';
import { decideWriteLease, type LeaseDecision } from '../domain/write-lease';
import { primariesOf } from '../domain/cluster-view';
import { withClient } from '../adapters/postgres/connect';
import { readLease, renewLease } from '../adapters/postgres/lease';
import { clusterServices } from './services';

/** What one look did with the write lease, for the health check's log line. */
export type LeaseKept = LeaseDecision & { done: boolean };

/**
 * Probe mode: renew the write lease of the one reachable primary, or grant the first one
 * (src/domain/write-lease.ts). One short SQL session on that primary; no ARM call.
 */
export async function keepWriteLease(cluster: string, view: ClusterView, operationRunning: boolean): Promise<LeaseKept> {
  const services = clusterServices(cluster);
  const primaries = primariesOf(view);
  // Only a single reachable primary can hold the lease: nothing to read otherwise.
  if (primaries.length !== 1) return { ...decideWriteLease(view, null, operationRunning), done: false };
  const timeout = services.config.policy.health.probeTimeoutMs;
  const timeouts = { connectTimeoutMs: timeout, statementTimeoutMs: timeout };
  // One session on the primary reads the lease and, usually, renews it.
  const decision = await withClient(
    await services.adminEndpoint(primaries[0].name),
    async (client): Promise<LeaseKept> => {
      const decided = decideWriteLease(view, await readLease(client), operationRunning);
      if (decided.action !== 'renew') return { ...decided, done: false };
      return { ...decided, done: await renewLease(client, { holder: decided.node, epoch: decided.epoch }, services.config.policy.leaseTtlSeconds) };
    },
    timeouts,
  );
  if (decision.action !== 'grant') return decision;
  const { changed } = await services.loadBalancer.setRole(services.node(decision.node), 'write');
  return { ...decision, done: changed };
}
