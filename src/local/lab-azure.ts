import { Lab } from '../lab/lab';
import { PoolRole } from '../ports/load-balancer';
import { ClusterConfig } from '../config/schema';
import { AzureEmulator, GuestExecutor, LatencyOption, PoolsSnapshot, startAzureEmulator, worldFromCluster } from './azure-emulator';
import { labSecrets } from './lab-cluster';

/**
 * The local Azure emulator playing the lab's Azure: its VMs are the lab nodes (Run Command runs
 * the real scripts on this machine with the node's paths as parameters), its load balancer pools
 * drive the lab's TCP load balancer, and powering a VM off kills that node's PostgreSQL.
 */
export async function startLabAzure(lab: Lab, cluster: ClusterConfig, options: { latency?: LatencyOption; announce?: (line: string) => void; executor?: GuestExecutor } = {}): Promise<AzureEmulator> {
  const pools = await lab.ilb().pools();
  const roles: Record<string, PoolRole> = Object.fromEntries(
    cluster.nodes.map((node) => [node.name, pools.writePool.includes(node.name) ? 'write' : pools.readPool.includes(node.name) ? 'read' : 'none']),
  );
  const vmOfHost = new Map(cluster.nodes.map((node) => [node.host, node.name]));
  // Applied one at a time, in the order Azure completed them.
  let routing = Promise.resolve();
  const route = (snapshot: PoolsSnapshot) => {
    const members = (pool: string) => (snapshot.pools[pool] ?? []).map((m) => vmOfHost.get(m.ipAddress)).filter((name): name is string => !!name);
    const pools = { writePool: members(cluster.loadBalancer.writePool), readPool: members(cluster.loadBalancer.readPool) };
    routing = routing.then(() => lab.ilb().setPools(pools)).then(
      () => undefined,
      (error: Error) => {
        process.stderr.write(`${JSON.stringify({ component: 'lab-azure', event: 'route-failed', error: error.message })}\n`);
      },
    );
  };
  return startAzureEmulator({
    world: worldFromCluster(cluster, { secrets: labSecrets(lab), roles }),
    latency: options.latency ?? 'zero',
    host: lab.layout.ilb.control.host,
    onPoolsChanged: route,
    onPowerStateChanged: (vm, state) => {
      if (state === 'stopped' || state === 'deallocated') void lab.server(vm).kill();
      if (state === 'running') void lab.server(vm).start();
    },
    ...(options.announce ? { announce: options.announce } : {}),
    ...(options.executor ? { executor: options.executor } : {}),
  });
}
