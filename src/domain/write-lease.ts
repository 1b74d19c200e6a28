import type { ClusterConfig } from '../config/schema';
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
 * stops or waits out the old holder first — and nothing is renewed or granted while an operation
 * owns the cluster: a failover's wait for the old lease counts from what its claim read (leaseWaitEnds).
 */
export function decideWriteLease(view: ClusterView, lease: LeaseSeen | null, operationRunning: boolean): LeaseDecision {
  const primaries = primariesOf(view);
  if (primaries.length === 0) return { action: 'none', why: 'no reachable primary to hold the write lease' };
  if (primaries.length > 1) return { action: 'none', why: `${primaries.map((p) => p.name).join(' and ')} are all writable: no lease is renewed or granted (S2)` };
  const [primary] = primaries;
  if (operationRunning) return { action: 'none', why: `an operation owns the cluster: ${primary.name}'s lease is left to it` };
  if (lease?.holder === primary.name) return { action: 'renew', node: primary.name, epoch: lease.epoch };
  if (lease && lease.holder !== '') return { action: 'none', why: `${primary.name}'s lease names ${lease.holder}: only a switchover or a failover moves it` };
  return { action: 'grant', node: primary.name };
}

/**
 * The latest expiry a health check may write: its ttl counted from when the look began, before it
 * read that no operation owns the cluster. A renewal whose statement is delayed past a failover's
 * claim therefore still ends by claim + ttl.
 */
export const leaseExpiryCap = (lookStartedAt: Date, ttlSeconds: number): Date => new Date(lookStartedAt.getTime() + ttlSeconds * 1000);

/** Probe mode: the latest expiry of any lease an operation may have written by `now`; undefined in pool mode. */
export const operationLeaseCap = (now: Date, cluster: Pick<ClusterConfig, 'loadBalancer' | 'policy'>): string | undefined =>
  cluster.loadBalancer?.membership === 'probe' ? leaseExpiryCap(now, cluster.policy.leaseTtlSeconds).toISOString() : undefined;

/**
 * When a failover may promote beside an old primary it could not stop cleanly. Every lease written
 * before its claim lasts at most to the horizon the claim read (src/domain/ownership.ts); with no
 * horizon on record, to claim + ttl (renewals stop while it owns the cluster, and none outlives
 * its cap). The margin lets the old primary's agent fence it and covers the clocks.
 */
export function leaseWaitEnds(claimed: { claimedAt: Date; leaseHorizon: string | null }, policy: { leaseTtlSeconds: number; leaseWaitMarginSeconds: number }): Date {
  const lastExpiry = claimed.leaseHorizon === null ? leaseExpiryCap(claimed.claimedAt, policy.leaseTtlSeconds).getTime() : Date.parse(claimed.leaseHorizon);
  return new Date(lastExpiry + policy.leaseWaitMarginSeconds * 1000);
}
