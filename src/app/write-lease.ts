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
  const [only] = primariesOf(view);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const timeouts = { connectTimeoutMs: timeout, statementTimeoutMs: timeout };
  const seen = only ? await withClient(await services.adminEndpoint(only.name), (client) => readLease(client), timeouts) : null;
  const decision = decideWriteLease(view, seen, operationRunning);
  switch (decision.action) {
    case 'renew': {
      const ttl = services.config.policy.leaseTtlSeconds;
      const done = await withClient(await services.adminEndpoint(decision.node), (client) => renewLease(client, { holder: decision.node, epoch: decision.epoch }, ttl), timeouts);
      return { ...decision, done };
    }
    case 'grant': {
      const { changed } = await services.loadBalancer.setRole(services.node(decision.node), 'write');
      return { ...decision, done: changed };
    }
    case 'none':
      return { ...decision, done: false };
  }
}
