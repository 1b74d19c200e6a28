import { inspectNode } from '../adapters/postgres/inspect';
import { ClusterView } from '../domain/cluster-view';
import type { NodeInspection } from '../domain/node-state';
import { clusterServices } from './services';

/**
 * One look at every node (in parallel, short timeouts) and at the load balancer's pools.
 * `leaveOut`: nodes the caller does not ask (their VM powered off, or silent at the caller's look
 * just before), so a dead one costs no connect timeout; they read as unreachable and in no pool.
 */
export async function inspectCluster(cluster: string, leaveOut: readonly string[] = []): Promise<ClusterView> {
  const services = clusterServices(cluster);
  const [nodes, pools] = await Promise.all([inspectNodes(cluster, leaveOut), services.loadBalancer.readPools(leaveOut)]);
  return { cluster, nodes, pools: { write: pools.write, read: pools.read }, ...(pools.silent?.length ? { silentAgents: pools.silent } : {}) };
}

/** One look at every node over SQL alone (but those left out): no ARM call, so it is cheap enough for the write path. */
export async function inspectNodes(cluster: string, leaveOut: readonly string[] = []): Promise<NodeInspection[]> {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  return Promise.all(
    services.config.nodes.map(async (node) =>
      leaveOut.includes(node.name)
        ? { name: node.name, host: node.host, port: node.port, reachable: false as const, role: 'unknown' as const, error: 'not asked: the operation left it out (powered off, or silent at its look just before)' }
        : inspectNode(node.name, await services.adminEndpoint(node.name), { connectTimeoutMs: timeout, statementTimeoutMs: timeout }),
    ),
  );
}
