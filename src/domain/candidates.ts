import { NodeConfig } from '../config/schema';
import { compareLsn, Lsn, maxLsn } from './lsn';
import { ReachableNode } from './node-state';

export interface RankedCandidate {
  name: string;
  receivedLsn: Lsn | null;
  replayLsn: Lsn | null;
  priority: number;
}

/**
 * The WAL a standby holds: the later of what it received and what it replayed. Replay can be ahead:
 * a standby that replayed WAL from its own pg_wal (after a restart or pg_rewind) reports as
 * received the start of the segment its new WAL receiver asked for, until streaming catches up.
 */
export function furthestLsn(node: Pick<RankedCandidate, 'receivedLsn' | 'replayLsn'>): Lsn | null {
  const known = [node.receivedLsn, node.replayLsn].filter((lsn): lsn is Lsn => lsn !== null);
  return known.length ? maxLsn(known[0], ...known.slice(1)) : null;
}

function byPosition(a: Lsn | null, b: Lsn | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return compareLsn(b, a);
}

/**
 * Orders promotable standbys best first: most WAL received, then one not held for planned
 * maintenance (src/domain/maintenance-hold.ts: it is about to reboot or freeze), then most replayed
 * (less to apply before it can serve), then the operator's priority, then name so the order is
 * total. A held node with more WAL still ranks first: promoting another would lose what only the
 * held one received. noFailover nodes are never candidates.
 */
export function rankCandidates(standbys: ReachableNode[], nodes: NodeConfig[], held: ReadonlySet<string> = new Set()): RankedCandidate[] {
  const configOf = new Map(nodes.map((n) => [n.name, n]));
  const isHeld = (name: string) => Number(held.has(name));
  return standbys
    .filter((s) => s.role === 'standby' && configOf.has(s.name) && !configOf.get(s.name)!.noFailover)
    .map((s) => ({ name: s.name, receivedLsn: s.receivedLsn, replayLsn: s.replayLsn, priority: configOf.get(s.name)!.priority }))
    .sort(
      (a, b) =>
        byPosition(furthestLsn(a), furthestLsn(b)) ||
        isHeld(a.name) - isHeld(b.name) ||
        byPosition(a.replayLsn, b.replayLsn) ||
        b.priority - a.priority ||
        a.name.localeCompare(b.name),
    );
}
