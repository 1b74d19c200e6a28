import { furthestLsn } from './candidates';
import { compareLsn } from './lsn';
import type { NodeInspection } from './node-state';

/**
 * Checks made right before a step acts, on a fresh look — not on the decision the orchestration
 * took earlier, which a restart of the Functions host may have made stale (docs/invariants.md S2,
 * S4, S9). Each returns why the step must not go ahead, or undefined.
 */

/**
 * The write pool only ever receives a reachable primary, never one beside a writer on a newer timeline.
 * Restoring the pool as it was before an operation that stops short of promotion (S3) may put back
 * a node that does not answer — it was there before — but never a standby or an older writer.
 */
export function writePoolRefusal(node: string, nodes: readonly NodeInspection[], { restoring = false }: { restoring?: boolean } = {}): string | undefined {
  const target = nodes.find((n) => n.name === node);
  if (!target) return `${node} is not a node of this cluster: not put into the write pool`;
  if (!target.reachable) return restoring ? undefined : `${node} does not answer (${target.error}): not put into the write pool`;
  if (target.role !== 'primary') return `${node} is in recovery, not a primary: not put into the write pool`;
  // Only another writer counts: a standby's timeline number may come from a diverged history (a
  // fenced stray restarted read-only) and says nothing about who the primary is.
  const newer = nodes.filter((n) => n.reachable && n.role === 'primary' && n.name !== node && n.timeline > target.timeline);
  if (newer.length) {
    return `${node} is a primary on timeline ${target.timeline}, but ${newer.map((n) => `${n.name} is on timeline ${n.reachable ? n.timeline : '?'}`).join(', ')}: not put into the write pool`;
  }
  return undefined;
}

/** A standby only ever follows a node that is a reachable primary now. */
export function followTargetRefusal(primary: string, inspection: NodeInspection): string | undefined {
  if (!inspection.reachable) return `${primary} does not answer (${inspection.error}): nothing follows it`;
  if (inspection.role !== 'primary') return `${primary} is not a primary (it is in recovery): nothing follows it`;
  return undefined;
}

/**
 * The health check re-points a standby only at the write pool's single primary as it is now
 * (docs/invariants.md S2, S4), and only a standby that holds nothing the primary lacks. `standby`
 * must have been read BEFORE `nodes`: the primary's position read later is then at least anything
 * the standby can have received from it, so a standby ahead of it on the same timeline really holds
 * WAL the primary never wrote (two promotions to the same timeline number) and is left alone.
 */
export function repointRefusal(node: string, primary: string, look: { standby: NodeInspection; nodes: readonly NodeInspection[]; writePool: readonly string[] }): string | undefined {
  const target = look.nodes.find((n) => n.name === primary);
  if (!target) return `${primary} is not a node of this cluster: ${node} is not re-pointed`;
  const notPrimary = followTargetRefusal(primary, target) ?? writePoolRefusal(primary, look.nodes);
  if (notPrimary) return notPrimary;
  if (look.writePool.length !== 1 || look.writePool[0] !== primary) return `the write pool holds [${look.writePool.join(', ')}], not ${primary} alone: ${node} is not re-pointed at it`;
  const { standby } = look;
  if (!standby.reachable) return `${node} does not answer (${standby.error}): not re-pointed`;
  if (standby.role !== 'standby') return `${node} is not in recovery: a writable node is fenced, never re-pointed`;
  const position = furthestLsn(standby);
  if (target.reachable && standby.timeline === target.timeline && position && target.currentLsn && compareLsn(position, target.currentLsn) > 0) {
    return `${node} has WAL up to ${position} on timeline ${standby.timeline}, beyond ${primary}'s ${target.currentLsn} on the same timeline: a diverged history, not re-pointed (resolve by hand)`;
  }
  return undefined;
}
