import type { ClusterConfig } from '../config/schema';
import { bytesBetween, Lsn } from './lsn';
import { NodeInspection, ReachableNode, WalReceiverState } from './node-state';

/** Pool membership by node name, as the load balancer reports it. */
export interface PoolView {
  write: string[];
  read: string[];
}

/** One look at the whole cluster: every node and the load balancer's pools. */
export interface ClusterView {
  cluster: string;
  nodes: NodeInspection[];
  pools: PoolView;
  /** Probe mode: nodes whose agent did not answer the load balancer's probes at all (src/ports/load-balancer.ts `silent`). */
  silentAgents?: string[];
  /** Probe mode with node steps: agents that would refuse this app's steps, which then go through Run Command. */
  agentsWithOtherSteps?: AgentStepsMismatch[];
}

/** An agent whose step scripts are not the ones this app sends (agent/README.md, "Node steps"). */
export interface AgentStepsMismatch {
  node: string;
  /** What its probes say it runs: a steps version, "none" (it serves no steps), or null (it did not say). */
  agentRuns: string | null;
  /** The version of the steps this app sends (vmStepsVersion). */
  appSends: string;
}

/** A health-check finding: what the agent runs, what that costs, and the fix. */
export function describeOtherSteps(mismatch: AgentStepsMismatch): string {
  const { node, agentRuns, appSends } = mismatch;
  const [runs, refused] =
    agentRuns === 'none'
      ? ['serves no node steps', 'every node step']
      : agentRuns === null
        ? ['does not say which step scripts it runs (an agent from before 2026-12-07)', 'every node step']
        : [`runs other step scripts (version ${agentRuns.slice(0, 12)}) than this app sends (${appSends.slice(0, 12)})`, 'each node step whose script differs'];
  return `${node}'s agent ${runs}: ${refused} on ${node} goes through Run Command (about 20 s each on Azure, on a failover's write path); install the agent from this app's release on ${node} with its node steps (agent/README.md, "Node steps")`;
}

export const primariesOf = (view: ClusterView): ReachableNode[] =>
  view.nodes.filter((n): n is ReachableNode => n.reachable && n.role === 'primary');

export const standbysOf = (view: ClusterView): ReachableNode[] =>
  view.nodes.filter((n): n is ReachableNode => n.reachable && n.role === 'standby');

export const nodeNamed = (view: ClusterView, name: string): NodeInspection | undefined => view.nodes.find((n) => n.name === name);

/** Whether a WAL receiver's sender is `node`'s address (a sender port not known matches any port). */
const sentBy = (receiver: WalReceiverState, node: { host: string; port: number }): boolean =>
  receiver.senderHost === node.host && (receiver.senderPort ?? node.port) === node.port;

/** Does `standby` stream from `primary`, as both of them see it? */
export function streamsFrom(standby: NodeInspection, primary: NodeInspection): boolean {
  if (!standby.reachable || standby.role !== 'standby' || !primary.reachable) return false;
  const receiver = standby.walReceiver;
  const fromHost = receiver?.status === 'streaming' && sentBy(receiver, primary);
  const seenByPrimary = primary.replication.some((r) => r.applicationName === standby.name && r.state === 'streaming');
  return fromHost || seenByPrimary;
}

/** A node's WAL position: the primary's current one, a standby's replayed one. */
export const walPosition = (node: NodeInspection): Lsn | null => (!node.reachable ? null : node.role === 'primary' ? node.currentLsn : node.replayLsn);

/** How many bytes of the primary's WAL a node has not replayed yet; null when either position is unknown. */
export function lagBytes(node: NodeInspection, primaryLsn: Lsn | null): number | null {
  const lsn = walPosition(node);
  return primaryLsn && lsn ? Math.max(0, bytesBetween(lsn, primaryLsn)) : null;
}

/**
 * The standbys that may be streaming from `old`, whether or not the app reaches it (S2, S6): every
 * reachable standby whose WAL receiver streams, unless its sender is another node of the cluster
 * that the app sees as a primary, or as a standby that may not stream from `old` itself (checked
 * the same way, up the chain; a loop streams from no primary). A cascade from a standby the app
 * sees idle is no sign of the old primary's life; one from a standby it cannot see may be. Fails
 * closed: `sender_host` is whatever the standby's primary_conninfo names (a DNS name, another
 * address of the old primary), so only an unambiguous match with another node clears it. An old
 * primary its standbys stream from is alive, and once its lease lapsed its agent's failsafe keeps
 * it writable while every one of them does (docs/design.md §9); with its agent gone, nothing
 * fences it. Promoting beside it makes two writers.
 */
export function standbysStreamingFrom(view: ClusterView, cluster: Pick<ClusterConfig, 'nodes'>, old: string): string[] {
  const mayStreamFromOld = (standby: ReachableNode, through: ReadonlySet<string>): boolean => {
    const receiver = standby.walReceiver;
    if (receiver?.status !== 'streaming') return false;
    const senders = cluster.nodes.filter((n) => sentBy(receiver, n));
    const upstream = senders.length === 1 ? senders[0] : undefined;
    if (!upstream || upstream.name === old) return true;
    if (through.has(upstream.name)) return false;
    const seen = nodeNamed(view, upstream.name);
    if (!seen?.reachable) return true;
    return seen.role === 'standby' && mayStreamFromOld(seen, new Set([...through, standby.name]));
  };
  return standbysOf(view)
    .filter((s) => s.name !== old && mayStreamFromOld(s, new Set()))
    .map((s) => s.name);
}
