import { inspectNode } from '../adapters/postgres/inspect';
import { ClusterView } from '../domain/cluster-view';
import type { NodeInspection } from '../domain/node-state';
import { clusterServices } from './services';

/** One look at every node (in parallel, short timeouts) and at the load balancer's pools. */
export async function inspectCluster(cluster: string): Promise<ClusterView> {
  const services = clusterServices(cluster);
  const [nodes, pools] = await Promise.all([inspectNodes(cluster), services.loadBalancer.readPools()]);
  return { cluster, nodes, pools: { write: pools.write, read: pools.read } };
}

/** One look at every node over SQL alone: no ARM call, so it is cheap enough for the write path. */
export async function inspectNodes(cluster: string): Promise<NodeInspection[]> {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  return Promise.all(
    services.config.nodes.map(async (node) => inspectNode(node.name, await services.adminEndpoint(node.name), { connectTimeoutMs: timeout, statementTimeoutMs: timeout })),
  );
}
