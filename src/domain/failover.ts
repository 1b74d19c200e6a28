import type { ClusterConfig } from '../config/schema';
import { furthestLsn, rankCandidates } from './candidates';
import { ClusterView, nodeNamed, primariesOf, standbysOf, standbysStreamingFrom } from './cluster-view';
import type { KnownPrimary } from './health';
import { bytesBetween, Lsn, maxLsn } from './lsn';
import type { ReachableNode } from './node-state';

/**
 * Unplanned failover decisions (docs/design.md §5, docs/invariants.md S7): which node is the old
 * primary, which standby to promote, and whether promoting it stays within the loss bound. Pure:
 * the failover orchestration feeds it inspections and the health check's last known primary
 * position.
 */

/** What a failover is asked to do (the body of POST .../failover, or what a trigger sends). */
export interface FailoverRequest {
  /** The standby to promote (default: the best one). */
  target?: string;
  /** Promote even when the candidate is further behind the last known primary position than policy.maxLagBytesForFailover (S7). */
  acceptDataLoss?: boolean;
  /** Why: shown in the operation report. */
  reason: string;
  /**
   * Automatic failovers (the health check): refuse before changing anything if the old primary
   * answers again or a standby streams from it again (S6).
   */
  requireDeadPrimary?: boolean;
  /**
   * The primary the deciding health check could not reach: in probe mode the failover's first look asks it
   * only briefly (src/domain/brief-ask.ts). Back, it answers in milliseconds and the failover is
   * called off; still gone, the look does not wait out the probe timeout a third time.
   */
  unreachablePrimary?: string;
}

export type FailoverRefusalCode =
  | 'no-old-primary'
  | 'several-primaries'
  | 'primary-answers'
  | 'standbys-streaming'
  | 'target-is-old-primary'
  | 'target-not-standby'
  | 'target-no-failover'
  | 'no-candidate'
  | 'position-unknown'
  | 'beyond-loss-bound';

export interface FailoverRefusal {
  code: FailoverRefusalCode;
  reason: string;
}

export interface FailoverStart {
  oldPrimary: string;
  /** The old primary answers and is writable: it must be stopped (it still takes writes on established sessions). */
  oldPrimaryWritable: boolean;
  /** It was in the write pool (the fence's undo puts it back). */
  oldPrimaryInWritePool: boolean;
  /**
   * A node other than the old primary is already writable on a newer timeline than the old
   * primary's, and not further behind its last known position than the bound (an interrupted
   * failover): roll forward with it.
   */
  alreadyPromoted: string | null;
  /** Writable nodes that are not such a promotion (an older or equal timeline, or too far behind): fenced and stopped, never promoted. */
  strayWriters: string[];
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; refusal: FailoverRefusal };

const refuse = <T>(code: FailoverRefusalCode, reason: string): Outcome<T> => ({ ok: false, refusal: { code, reason } });

const promotable = (cluster: Pick<ClusterConfig, 'nodes'>, view: ClusterView, exclude: string, held?: ReadonlySet<string>): ReachableNode[] =>
  rankCandidates(
    standbysOf(view).filter((s) => s.name !== exclude),
    cluster.nodes,
    held,
  ).map((c) => standbysOf(view).find((s) => s.name === c.name)!);

/**
 * Before anything changes: the old primary is the write pool's member (else the last known
 * primary, else the one writable node), and there is something to promote. Every doubt refuses
 * here, where refusing costs nothing.
 */
export function identifyOldPrimary(cluster: Pick<ClusterConfig, 'name' | 'nodes'> & Partial<Pick<ClusterConfig, 'policy'>>, view: ClusterView, known: KnownPrimary | null, request: FailoverRequest): Outcome<FailoverStart> {
  const writePool = view.pools.write;
  if (writePool.length > 1) return refuse('several-primaries', `the write pool holds ${writePool.join(', ')}: resolve that by hand before failing over`);
  const writable = primariesOf(view);
  let oldPrimary = writePool[0] ?? known?.name;
  if (!oldPrimary && writable.length === 1) oldPrimary = writable[0].name;
  if (!oldPrimary) return refuse('no-old-primary', `cluster ${cluster.name} has no node in the write pool, no primary recorded by the health check and no single writable node: there is no primary to fail over from`);
  if (request.target === oldPrimary) return refuse('target-is-old-primary', `${oldPrimary} is the primary being failed over from; name a standby as target`);

  const old = nodeNamed(view, oldPrimary);
  const others = writable.filter((n) => n.name !== oldPrimary);
  if (others.length > 1) return refuse('several-primaries', `${others.map((n) => n.name).join(' and ')} are all writable besides ${oldPrimary}: resolve the split by hand`);
  // S7: only a writer on a newer timeline than the old primary's, within the bound of its last
  // known position, is a promotion to roll forward to; any other writer is fenced, and the
  // candidate is chosen as usual.
  const knownOwn = known && known.name === oldPrimary ? known : null;
  const oldTimeline = old?.reachable ? old.timeline : (knownOwn?.timeline ?? null);
  const bound = cluster.policy?.maxLagBytesForFailover;
  const isPromotion = (n: ReachableNode) =>
    oldTimeline !== null && n.timeline > oldTimeline && (!knownOwn?.lsn || !n.currentLsn || bound === undefined || bytesBetween(n.currentLsn, knownOwn.lsn) <= bound);
  const alreadyPromoted = others[0] && isPromotion(others[0]) ? others[0].name : null;
  const strayWriters = others.filter((n) => n.name !== alreadyPromoted).map((n) => n.name);
  if (alreadyPromoted && request.target && request.target !== alreadyPromoted) {
    return refuse('several-primaries', `${alreadyPromoted} is already writable (an interrupted failover?): fail over to it (target ${alreadyPromoted}), not to ${request.target}`);
  }

  if (request.requireDeadPrimary) {
    if (old?.reachable) return refuse('primary-answers', `${oldPrimary} answers again (as ${old.role}): the automatic failover is called off`);
    const streaming = standbysStreamingFrom(view, cluster, oldPrimary);
    if (streaming.length) return refuse('standbys-streaming', `${streaming.join(', ')} stream${streaming.length === 1 ? 's' : ''} again: the primary is alive (S6), the automatic failover is called off`);
  }

  if (!alreadyPromoted) {
    const check = checkTarget(cluster, view, oldPrimary, request.target);
    if (!check.ok) return check;
  }
  return {
    ok: true,
    value: {
      oldPrimary,
      oldPrimaryWritable: !!old?.reachable && old.role === 'primary',
      oldPrimaryInWritePool: writePool.includes(oldPrimary),
      alreadyPromoted,
      strayWriters,
    },
  };
}

function checkTarget(cluster: Pick<ClusterConfig, 'nodes'>, view: ClusterView, oldPrimary: string, target: string | undefined): Outcome<null> {
  if (target) {
    const node = nodeNamed(view, target);
    if (!node || !node.reachable || node.role !== 'standby') return refuse('target-not-standby', `${target} is not a reachable standby (it is ${node ? (node.reachable ? node.role : `unreachable: ${node.error}`) : 'not a node of this cluster'})`);
    if (cluster.nodes.find((n) => n.name === target)?.noFailover) return refuse('target-no-failover', `${target} has noFailover set and is never promoted; pick another standby or change its configuration`);
    return { ok: true, value: null };
  }
  if (promotable(cluster, view, oldPrimary).length === 0) {
    return refuse('no-candidate', `no reachable standby without noFailover to promote (${view.nodes.filter((n) => n.name !== oldPrimary).map((n) => `${n.name}: ${n.reachable ? n.role : 'unreachable'}`).join(', ')})`);
  }
  return { ok: true, value: null };
}

/** The position failing over is measured against (S7): how far the old primary is known to have written. */
export interface LossReference {
  lsn: Lsn;
  source: string;
}

/**
 * The old primary's shutdown checkpoint when it was stopped cleanly (exact: nothing follows it);
 * else the furthest position the old primary is known to have reached: what the health check last
 * recorded for it, what it reports now, and what any standby received from it. Null (the loss
 * cannot be bounded: 'position-unknown') when the old primary's own position is unknown — the
 * standbys' positions alone would make the loss 0 by construction.
 */
export function lossReference(
  oldPrimary: string,
  known: KnownPrimary | null,
  seen: { currentLsn?: Lsn | null; shutdownCheckpointLsn?: Lsn | null },
  standbys: Pick<ReachableNode, 'name' | 'receivedLsn' | 'replayLsn'>[] = [],
): LossReference | null {
  if (seen.shutdownCheckpointLsn) return { lsn: seen.shutdownCheckpointLsn, source: `${oldPrimary}'s shutdown checkpoint` };
  const positions: LossReference[] = [];
  if (known && known.name === oldPrimary && known.lsn) positions.push({ lsn: known.lsn, source: `${oldPrimary} at the last healthy check (${known.at})` });
  if (seen.currentLsn) positions.push({ lsn: seen.currentLsn, source: `${oldPrimary}'s current position` });
  // Without a position of its own the loss cannot be bounded: what the standbys received is the
  // loss's lower edge, not the primary's last position (measured against it the loss is 0 by
  // construction), so it only raises a known reference.
  if (positions.length === 0) return null;
  for (const standby of standbys) {
    const position = furthestLsn(standby);
    if (position) positions.push({ lsn: position, source: `WAL ${standby.name} received from ${oldPrimary}` });
  }
  const furthest = maxLsn(positions[0].lsn, ...positions.slice(1).map((p) => p.lsn));
  return positions.find((p) => p.lsn === furthest)!;
}

export interface FailoverChoice {
  candidate: string;
  /** The candidate is already writable (roll forward); nothing to promote. */
  alreadyPrimary: boolean;
  candidateLsn: Lsn | null;
  reference: LossReference | null;
  /** WAL bytes the old primary is known to have written that the candidate never received; null when unknown. */
  lossBytes: number | null;
  bound: number;
  dataLossAccepted: boolean;
  /** Reachable standbys that must follow the candidate afterwards. */
  followers: string[];
  /** Other nodes that could not be reached. */
  unreachable: string[];
}

/**
 * After the fence: the best standby by received WAL, then one not held for planned maintenance
 * (`held`), then replayed WAL, then priority (never a noFailover node), or the requested target;
 * refused when it is further behind the reference than policy.maxLagBytesForFailover, unless the
 * request accepts data loss (S7).
 */
export function chooseFailoverCandidate(
  cluster: Pick<ClusterConfig, 'name' | 'nodes' | 'policy'>,
  view: ClusterView,
  start: Pick<FailoverStart, 'oldPrimary' | 'alreadyPromoted'>,
  reference: LossReference | null,
  request: FailoverRequest,
  held: ReadonlySet<string> = new Set(),
): Outcome<FailoverChoice> {
  const { oldPrimary } = start;
  const bound = cluster.policy.maxLagBytesForFailover;
  const rest = (candidate: string) => ({
    followers: standbysOf(view).filter((s) => s.name !== candidate && s.name !== oldPrimary).map((s) => s.name),
    unreachable: view.nodes.filter((n) => !n.reachable && n.name !== oldPrimary).map((n) => n.name),
  });

  if (start.alreadyPromoted) {
    const node = nodeNamed(view, start.alreadyPromoted);
    if (!node?.reachable || node.role !== 'primary') return refuse('no-candidate', `${start.alreadyPromoted} was writable but now is ${node?.reachable ? node.role : 'unreachable'}: inspect the cluster and retry`);
    const lossBytes = reference && node.currentLsn ? Math.max(0, bytesBetween(node.currentLsn, reference.lsn)) : null;
    return { ok: true, value: { candidate: node.name, alreadyPrimary: true, candidateLsn: node.currentLsn, reference, lossBytes, bound, dataLossAccepted: !!request.acceptDataLoss, ...rest(node.name) } };
  }

  const targetCheck = checkTarget(cluster, view, oldPrimary, request.target);
  if (!targetCheck.ok) return targetCheck;
  const ranked = promotable(cluster, view, oldPrimary, held);
  const chosen = request.target ? ranked.find((s) => s.name === request.target)! : ranked[0];
  const candidateLsn = furthestLsn(chosen);
  const lossOf = (node: ReachableNode): number | null => {
    if (!reference) return null;
    const position = furthestLsn(node);
    return position ? Math.max(0, bytesBetween(position, reference.lsn)) : Number.MAX_SAFE_INTEGER;
  };
  const lossBytes = lossOf(chosen);
  const accept = !!request.acceptDataLoss;

  if (!reference && !accept) {
    return refuse(
      'position-unknown',
      `${oldPrimary}'s last WAL position is unknown (no healthy check recorded it and it cannot be read now), so the loss of promoting ${chosen.name} (at ${candidateLsn ?? 'no WAL'}) cannot be bounded: bring ${oldPrimary} back, or repeat with acceptDataLoss: true`,
    );
  }
  if (lossBytes !== null && lossBytes > bound && !accept) {
    const better = request.target ? ranked.find((s) => s.name !== chosen.name && (lossOf(s) ?? Infinity) <= bound) : undefined;
    return refuse(
      'beyond-loss-bound',
      `${chosen.name} has received WAL up to ${candidateLsn ?? 'nothing'}, ${lossBytes} bytes behind ${reference!.source} (${reference!.lsn}), more than maxLagBytesForFailover (${bound}): promoting it would lose the transactions committed in those bytes (S7).` +
        `${better ? ` ${better.name} is within the bound.` : ''} Bring ${oldPrimary} back, or repeat the failover with acceptDataLoss: true to accept the loss`,
    );
  }
  return {
    ok: true,
    value: { candidate: chosen.name, alreadyPrimary: false, candidateLsn, reference, lossBytes, bound, dataLossAccepted: accept && (lossBytes === null || lossBytes > 0), ...rest(chosen.name) },
  };
}

/** What the platform and the VM itself say about a node the app cannot reach. */
export interface VmInspection {
  /** Azure's power state: "running", "stopped", "deallocated", ... */
  powerState: string;
  /** Whether a postmaster runs (pg_ctl status on the VM); null when the VM could not be asked. */
  serverRunning: boolean | null;
  /** pg_control's cluster state ("in production", "shut down", ...); null when unknown. */
  clusterState: string | null;
  /** Why the VM could not be asked, when it could not. */
  detail: string | null;
}
