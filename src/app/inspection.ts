import { inspectNode } from '../adapters/postgres/inspect';
import type { AgentStepsMismatch, ClusterView } from '../domain/cluster-view';
import { vmStepsVersion } from '../vm-scripts/catalogue';
import type { NodeInspection } from '../domain/node-state';
import { clusterServices } from './services';
import { briefAskMs } from '../domain/brief-ask';

/**
 * One look at every node (in parallel, short timeouts) and at the load balancer's pools.
 * `leaveOut`: nodes the caller does not ask (their VM powered off, or silent at the caller's look
 * just before), so a dead one costs no connect timeout; they read as unreachable and in no pool.
 */
export async function inspectCluster(cluster: string, leaveOut: readonly string[] = [], briefly: readonly string[] = []): Promise<ClusterView> {
  const services = clusterServices(cluster);
  const [nodes, pools] = await Promise.all([inspectNodes(cluster, leaveOut, briefly), services.loadBalancer.readPools(leaveOut, briefly)]);
  const otherSteps = services.config.nodeAgent && pools.agentSteps && Object.keys(pools.agentSteps).length ? agentsWithOtherSteps(pools.agentSteps) : [];
  return {
    cluster,
    nodes,
    pools: { write: pools.write, read: pools.read },
    ...(pools.silent?.length ? { silentAgents: pools.silent } : {}),
    ...(otherSteps.length ? { agentsWithOtherSteps: otherSteps } : {}),
  };
}

function agentsWithOtherSteps(agentSteps: Record<string, string | null>): AgentStepsMismatch[] {
  const appSends = vmStepsVersion();
  return Object.entries(agentSteps)
    .filter(([, agentRuns]) => agentRuns !== appSends)
    .map(([node, agentRuns]) => ({ node, agentRuns, appSends }))
    .sort((a, b) => a.node.localeCompare(b.node));
}

/**
 * One look at every node over SQL alone (but those left out): no ARM call, so it is cheap enough
 * for the write path. Nodes asked `briefly` get briefAskMs, and say so when silent.
 */
export async function inspectNodes(cluster: string, leaveOut: readonly string[] = [], briefly: readonly string[] = []): Promise<NodeInspection[]> {
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  return Promise.all(
    services.config.nodes.map(async (node) => {
      if (leaveOut.includes(node.name)) {
        return { name: node.name, host: node.host, port: node.port, reachable: false as const, role: 'unknown' as const, error: 'not asked: the operation left it out (powered off, or silent at its look just before)' };
      }
      const brief = briefly.includes(node.name);
      const ms = brief ? briefAskMs(timeout) : timeout;
      const seen = await inspectNode(node.name, await services.adminEndpoint(node.name), { connectTimeoutMs: ms, statementTimeoutMs: ms });
      return brief && !seen.reachable ? { ...seen, error: `asked briefly (${ms} ms: silent when last asked): ${seen.error}` } : seen;
    }),
  );
}
