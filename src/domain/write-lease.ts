import { type ClusterView, primariesOf } from './cluster-view';

/** The write lease as the primary holds it (probe mode, docs/design.md §9); null: none granted yet. */
export interface LeaseSeen {
  holder: string;
  epoch: number;
}

export type LeaseDecision =
  | { action: 'renew'; node: string; epoch: number }
  | { action: 'grant'; node: string }
  | { action: 'none'; why: string };

/**
 * What the health check does with the write lease, on each look. Renewal and a first grant go only
 * to the one reachable primary: with two writable nodes neither is renewed, so both leases lapse
 * and each agent fences its node unless every standby still streams from it (S2). A lease naming
 * another node is never taken from it here — that is a switchover's or a failover's job, which
 * stops or waits out the old holder first — and nothing is granted while an operation owns the
 * cluster.
 */
export function decideWriteLease(view: ClusterView, lease: LeaseSeen | null, operationRunning: boolean): LeaseDecision {
  const primaries = primariesOf(view);
  if (primaries.length === 0) return { action: 'none', why: 'no reachable primary to hold the write lease' };
  if (primaries.length > 1) return { action: 'none', why: `${primaries.map((p) => p.name).join(' and ')} are all writable: no lease is renewed or granted (S2)` };
  const [primary] = primaries;
  if (lease?.holder === primary.name) return { action: 'renew', node: primary.name, epoch: lease.epoch };
  if (operationRunning) return { action: 'none', why: `an operation owns the cluster: ${primary.name}'s lease is left to it` };
  if (lease && lease.holder !== '') return { action: 'none', why: `${primary.name}'s lease names ${lease.holder}: only a switchover or a failover moves it` };
  return { action: 'grant', node: primary.name };
}
