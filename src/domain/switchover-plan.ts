import { ClusterConfig } from '../config/schema';
import { bytesBetween, compareLsn, Lsn } from './lsn';
import { ClusterView, primariesOf, standbysOf, streamsFrom } from './cluster-view';
import { furthestLsn, rankCandidates } from './candidates';

export interface SwitchoverRequest {
  target?: string;
  maxLagBytes?: number;
}

export interface SwitchoverPlan {
  cluster: string;
  oldPrimary: string;
  candidate: string;
  candidateLagBytes: number;
  /** Standbys that must follow the new primary afterwards. */
  followers: string[];
  /** Nodes that could not be reached; the switchover goes on without them and reports them. */
  unreachable: string[];
  primaryLsn: Lsn;
}

export type RefusalCode =
  | 'no-primary'
  | 'several-primaries'
  | 'target-not-standby'
  | 'target-no-failover'
  | 'target-not-streaming'
  | 'target-lagging'
  | 'target-held'
  | 'no-candidate';

export interface Refusal {
  code: RefusalCode;
  reason: string;
}

export type PlanOutcome = { ok: true; plan: SwitchoverPlan } | { ok: false; refusal: Refusal };

const refuse = (code: RefusalCode, reason: string): PlanOutcome => ({ ok: false, refusal: { code, reason } });

/**
 * Step 1 of the runbook: exactly one primary, and a candidate that streams from it and is close
 * enough, and is not held for its own planned maintenance (`held`: it is about to reboot or freeze,
 * and a planned switchover can always wait for it or choose another). Refusing here changes
 * nothing, so every doubt is a refusal.
 */
export function planSwitchover(cluster: ClusterConfig, view: ClusterView, request: SwitchoverRequest, held: ReadonlySet<string> = new Set()): PlanOutcome {
  const primaries = primariesOf(view);
  if (primaries.length === 0) return refuse('no-primary', `no reachable primary in cluster ${cluster.name}: a planned switchover needs a running primary (use failover for a dead one)`);
  if (primaries.length > 1) return refuse('several-primaries', `${primaries.map((p) => p.name).join(' and ')} are all primaries: resolve the split before switching over`);
  const [primary] = primaries;
  const primaryLsn = primary.currentLsn!;
  const maxLag = request.maxLagBytes ?? cluster.policy.maxLagBytesForSwitchover;
  const lagOf = (name: string) => {
    const node = standbysOf(view).find((s) => s.name === name)!;
    const position = furthestLsn(node);
    return position ? Math.max(0, bytesBetween(position, primaryLsn)) : Number.POSITIVE_INFINITY;
  };
  const streaming = standbysOf(view).filter((s) => streamsFrom(s, primary));

  let candidate: string;
  if (request.target) {
    const target = view.nodes.find((n) => n.name === request.target);
    const config = cluster.nodes.find((n) => n.name === request.target);
    if (!target || !target.reachable || target.role !== 'standby') return refuse('target-not-standby', `${request.target} is not a reachable standby (it is ${target?.reachable ? target.role : 'unreachable'})`);
    if (config?.noFailover) return refuse('target-no-failover', `${request.target} has noFailover set and is never promoted; pick another node or change its configuration`);
    if (!streaming.includes(target)) return refuse('target-not-streaming', `${request.target} is not streaming from ${primary.name}; it could not catch up`);
    if (lagOf(target.name) > maxLag) return refuse('target-lagging', `${request.target} is ${lagOf(target.name)} bytes behind ${primary.name}, more than the ${maxLag} allowed (maxLagBytes)`);
    if (held.has(target.name)) return refuse('target-held', `${request.target} is held out of the pools for its planned maintenance: pick another standby, or switch over to it once its maintenance is over`);
    candidate = target.name;
  } else {
    const eligible = rankCandidates(streaming, cluster.nodes).filter((c) => lagOf(c.name) <= maxLag && !held.has(c.name));
    const heldNote = held.size ? `, without noFailover and not held for planned maintenance (${[...held].join(', ')})` : ' and without noFailover';
    if (eligible.length === 0) return refuse('no-candidate', `no standby streams from ${primary.name} within ${maxLag} bytes${heldNote}`);
    candidate = eligible[0].name;
  }

  return {
    ok: true,
    plan: {
      cluster: cluster.name,
      oldPrimary: primary.name,
      candidate,
      candidateLagBytes: lagOf(candidate),
      followers: standbysOf(view).filter((s) => s.name !== candidate).map((s) => s.name),
      unreachable: view.nodes.filter((n) => !n.reachable).map((n) => n.name),
      primaryLsn,
    },
  };
}

/**
 * Step 4: the candidate holds every committed byte. Every commit record precedes the old primary's
 * shutdown checkpoint record (it starts at `checkpointLsn` and is the last thing the primary
 * wrote), so receiving up to it is S1 (docs/invariants.md); waiting until WAL past its start has
 * arrived also lets the old primary rejoin by plain follow (rejoin falls back to pg_rewind if it
 * did not).
 */
export function hasCaughtUp(receivedLsn: Lsn | null, checkpointLsn: Lsn): boolean {
  return receivedLsn !== null && compareLsn(receivedLsn, checkpointLsn) > 0;
}

/**
 * ...and has replayed everything before the checkpoint: promotion waits for replay, and a
 * promotion that timed out on a replay backlog could still complete after an abort.
 */
export function isReadyToPromote(positions: { receivedLsn: Lsn | null; replayLsn: Lsn | null }, checkpointLsn: Lsn): boolean {
  return hasCaughtUp(positions.receivedLsn, checkpointLsn) && positions.replayLsn !== null && compareLsn(positions.replayLsn, checkpointLsn) >= 0;
}
