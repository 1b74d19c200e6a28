import type { ClusterView } from './cluster-view';
import type { ReachableNode } from './node-state';

/**
 * Which database cluster an operation acts on (docs/invariants.md S9): the pg_control system
 * identifier its first look found, pinned for all its later steps. An orchestration resumes from
 * its history — after a restart, possibly long after — and the VMs behind the configured names may
 * by then hold another database (rebuilt, initdb'd again): no step may act on a decision taken about
 * a different cluster. The primary's identifier, else any reachable node's; null when none answered.
 */
export function clusterIdentity(view: ClusterView): string | null {
  const known = view.nodes.filter((n): n is ReachableNode => n.reachable && !!n.systemIdentifier);
  return (known.find((n) => n.role === 'primary') ?? known[0])?.systemIdentifier ?? null;
}

/** Why a step must not act on `node`, whose system identifier is `seen` (null: unknown, not a refusal). */
export function identityRefusal(node: string, seen: string | null, pinned: string): string | undefined {
  if (seen === null || seen === pinned) return undefined;
  return `${node} holds another database cluster (system identifier ${seen}) than the one this operation began on (${pinned}): it was rebuilt or initialised again meanwhile, so the operation's decisions no longer apply to it; nothing was done`;
}
