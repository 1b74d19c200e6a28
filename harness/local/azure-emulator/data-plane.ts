import type { PoolMemberInfo, PoolsSnapshot } from './record';
import { type EmulatorState, key, type LoadBalancerState } from './state';

/** Who each pool of `lb` routes to, from the applied (completed) changes only. */
export function poolsSnapshot(state: EmulatorState, lb: LoadBalancerState): PoolsSnapshot {
  const vmByIp = new Map([...state.vms.values()].map((vm) => [vm.privateIp, vm.name]));
  const pools: Record<string, PoolMemberInfo[]> = {};
  for (const pool of lb.pools.values()) {
    const ips = new Set(state.appliedPoolAddresses.get(key(pool.id)) ?? []);
    for (const applied of state.appliedNicPools.values()) {
      if (applied.poolIds.some((id) => key(id) === key(pool.id))) ips.add(applied.privateIp);
    }
    pools[pool.name] = [...ips].sort().map((ipAddress) => {
      const vm = vmByIp.get(ipAddress);
      return vm ? { ipAddress, vm } : { ipAddress };
    });
  }
  return { loadBalancerId: lb.id, loadBalancerName: lb.name, pools };
}

/**
 * Calls `notify` for each load balancer whose routed membership differs from what was last
 * reported — the moment the emulated data path changes, which the lab's TCP proxy follows.
 */
export class PoolChangeNotifier {
  private readonly lastReported = new Map<string, string>();

  constructor(
    private readonly state: EmulatorState,
    private readonly notify: (snapshot: PoolsSnapshot) => void,
  ) {}

  check(): void {
    for (const lb of this.state.loadBalancers.values()) {
      const snapshot = poolsSnapshot(this.state, lb);
      const text = JSON.stringify(snapshot.pools);
      if (this.lastReported.get(key(lb.id)) === text) continue;
      this.lastReported.set(key(lb.id), text);
      this.notify(snapshot);
    }
  }
}
