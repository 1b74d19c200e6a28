import { bytesBetween, Lsn } from './lsn';
import { NodeInspection, ReachableNode } from './node-state';

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
}

export const primariesOf = (view: ClusterView): ReachableNode[] =>
  view.nodes.filter((n): n is ReachableNode => n.reachable && n.role === 'primary');

export const standbysOf = (view: ClusterView): ReachableNode[] =>
  view.nodes.filter((n): n is ReachableNode => n.reachable && n.role === 'standby');

export const nodeNamed = (view: ClusterView, name: string): NodeInspection | undefined => view.nodes.find((n) => n.name === name);

/** Does `standby` stream from `primary`, as both of them see it? */
export function streamsFrom(standby: NodeInspection, primary: NodeInspection): boolean {
  if (!standby.reachable || standby.role !== 'standby' || !primary.reachable) return false;
  const receiver = standby.walReceiver;
  const fromHost = receiver?.status === 'streaming' && receiver.senderHost === primary.host && (receiver.senderPort ?? primary.port) === primary.port;
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
