import { inspectNode } from '../adapters/postgres/inspect';
import { ClusterView } from '../domain/cluster-view';
import { clusterServices } from './services';

/** One look at every node (in parallel, short timeouts) and at the load balancer's pools. */
export async function inspectCluster(cluster: string): Promise<ClusterView> {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const [nodes, pools] = await Promise.all([
    Promise.all(
      services.config.nodes.map(async (node) => inspectNode(node.name, await services.adminEndpoint(node.name), { connectTimeoutMs: timeout, statementTimeoutMs: timeout })),
    ),
    services.loadBalancer.readPools(),
  ]);
  return { cluster, nodes, pools: { write: pools.write, read: pools.read } };
}
