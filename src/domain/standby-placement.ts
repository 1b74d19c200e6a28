import { streamsFrom } from './cluster-view';
import type { ConninfoTarget } from './conninfo';
import type { ReachableNode } from './node-state';

/**
 * Where a reachable standby stands with respect to the current primary, and what converging it
 * takes (docs/invariants.md S4: every node streams from the one primary on its timeline). Pure:
 * the health check decides with it, and the repoint activity asks it again on a fresh look.
 *
 * The loss rules: re-pointing a standby never makes it writable (no split brain), and it loses
 * nothing only if the standby holds no WAL the primary lacks:
 * - same timeline as the primary → its WAL is a prefix of the primary's: follow.sh re-points it;
 * - an older timeline → it may have replayed past the point where the primary's timeline forked
 *   off (a standby that kept streaming from the old primary after the promotion): what it holds
 *   beyond the fork was never the cluster's history, so the rejoin path takes it — follow when it
 *   can, pg_rewind back to the fork when it must (rejoin.sh decides that on the node);
 * - a newer timeline than the primary → it comes from a promotion the write pool does not know
 *   (an interrupted failover?): following would rewind that history away. Left alone, reported.
 */
export type StandbyPlacement =
  | { kind: 'in-place' }
  | { kind: 'repoint'; why: string }
  | { kind: 'rejoin'; why: string }
  | { kind: 'leave'; why: string };

/** Does a conninfo name this node? A conninfo without a port takes the default, so it is not held against it. */
export const conninfoNames = (target: ConninfoTarget, node: Pick<ReachableNode, 'host' | 'port'>): boolean =>
  target.host === node.host && (target.port === null || target.port === node.port);

const conninfoText = (target: ConninfoTarget) => `primary_conninfo names ${target.host === null ? 'no host' : `${target.host}:${target.port ?? 'default port'}`}`;

/** Where the standby streams from now, and where its primary_conninfo points, in words. */
export function describeUpstream(standby: ReachableNode): string {
  const receiver = standby.walReceiver;
  const streaming = receiver?.status === 'streaming' ? `it streams from ${receiver.senderHost ?? '?'}:${receiver.senderPort ?? '?'}` : `WAL receiver ${receiver?.status ?? 'not running'}`;
  return standby.primaryConninfo === null ? streaming : `${streaming}; ${conninfoText(standby.primaryConninfo)}`;
}

export function placeStandby(standby: ReachableNode, primary: ReachableNode): StandbyPlacement {
  // Unknown (the setting could not be read): judged by what it streams from alone.
  const conninfoRight = standby.primaryConninfo === null || conninfoNames(standby.primaryConninfo, primary);
  const streaming = streamsFrom(standby, primary);
  if (streaming && conninfoRight) return { kind: 'in-place' };
  const where = streaming
    ? `${standby.name} streams from ${primary.name} but its ${conninfoText(standby.primaryConninfo!)}: the next restart of its WAL receiver would leave ${primary.name}`
    : `${standby.name} does not stream from ${primary.name} (${describeUpstream(standby)})`;
  if (standby.timeline > primary.timeline) {
    return {
      kind: 'leave',
      why: `${where}, and it is on timeline ${standby.timeline}, newer than ${primary.name}'s ${primary.timeline}: following ${primary.name} would rewind that timeline's WAL away, so it is not re-pointed automatically (an interrupted failover? resolve by hand)`,
    };
  }
  if (standby.timeline < primary.timeline) {
    return {
      kind: 'rejoin',
      why: `${where}, on timeline ${standby.timeline} (${primary.name} is on ${primary.timeline}): it may be past the fork point, so it is rejoined (follow when it can, else pg_rewind)`,
    };
  }
  return { kind: 'repoint', why: `${where}: re-point it (same timeline ${primary.timeline}, nothing to undo)` };
}
