import type { NetworkManagementClient, NetworkInterface } from '@azure/arm-network';
import type { LoadBalancerConfig } from '../../config/schema';
import { InvalidInputError } from '../../domain/errors';
import type { PoolMember, PoolMembership, PoolRole, SetRoleResult } from '../../ports/load-balancer';
import { withConflictRetry } from './conflict-retry';
import { ifMatch } from './if-match-policy';
import type { ResolvedAdapterOptions } from './options';
import { poolIds, poolsForRole } from './pool-ids';
import { parseResourceId, sameResourceId } from './resource-id';

type NetworkFor = (subscriptionId: string) => NetworkManagementClient;

/**
 * NIC-based pools: a node's membership lives on its NIC, in
 * ipConfigurations[i].loadBalancerBackendAddressPools. One NIC update moves the node between
 * both pools at once, so there is never a moment where it is in both.
 */
export class NicPoolMembership {
  private readonly pools;

  constructor(
    private readonly network: NetworkFor,
    private readonly lb: LoadBalancerConfig,
    private readonly nodes: readonly PoolMember[],
    private readonly options: ResolvedAdapterOptions,
  ) {
    this.pools = poolIds(lb);
  }

  async setRole(node: PoolMember, role: PoolRole): Promise<SetRoleResult> {
    if (!node.nicResourceId) throw new InvalidInputError(`node ${node.name} has no nicResourceId, which NIC-based pools need`, this.context(node));
    const nicId = parseResourceId(node.nicResourceId, 'Microsoft.Network/networkInterfaces');
    const client = this.network(nicId.subscriptionId);
    const wanted = poolsForRole(role).map((pool) => this.pools[pool]);
    let changed = false;
    await withConflictRetry(`set ${node.name} to ${role}`, this.options, this.context(node), async () => {
      const nic = await client.networkInterfaces.get(nicId.resourceGroup, nicId.name);
      const ipConfig = this.ipConfigurationOf(nic, node);
      const current = (ipConfig.loadBalancerBackendAddressPools ?? []).map((pool) => pool.id ?? '');
      const desired = [...current.filter((id) => !this.isOurPool(id)), ...wanted];
      if (sameSet(current, desired)) return 'done';
      ipConfig.loadBalancerBackendAddressPools = desired.map((id) => ({ id }));
      this.options.log.info('lb.update', { node: node.name, role, nic: nicId.name, membership: 'nic' });
      await client.networkInterfaces.createOrUpdate(nicId.resourceGroup, nicId.name, nic, { ...ifMatch(nic.etag), updateIntervalInMs: this.options.pollIntervalMs });
      changed = true;
      return 'verify';
    });
    return { changed };
  }

  /** Reads the pools from the load balancer's side (backendIPConfigurations), mapped back to node names. */
  async readPools(): Promise<PoolMembership> {
    const lbId = parseResourceId(this.lb.resourceId, 'Microsoft.Network/loadBalancers');
    const client = this.network(lbId.subscriptionId);
    const membership: PoolMembership = { write: [], read: [], unknown: [] };
    for (const pool of ['write', 'read'] as const) {
      const poolName = pool === 'write' ? this.lb.writePool : this.lb.readPool;
      const resource = await client.loadBalancerBackendAddressPools.get(lbId.resourceGroup, lbId.name, poolName);
      for (const ipConfig of resource.backendIPConfigurations ?? []) {
        const node = this.nodes.find((n) => n.nicResourceId && sameResourceId(ipConfig.id, `${n.nicResourceId}/ipConfigurations/${n.ipConfigurationName}`));
        if (node) membership[pool].push(node.name);
        else membership.unknown.push({ pool, member: ipConfig.id ?? '(no id)' });
      }
    }
    membership.write.sort();
    membership.read.sort();
    return membership;
  }

  private ipConfigurationOf(nic: NetworkInterface, node: PoolMember) {
    const ipConfig = (nic.ipConfigurations ?? []).find((c) => c.name?.toLowerCase() === node.ipConfigurationName.toLowerCase());
    if (!ipConfig) {
      const names = (nic.ipConfigurations ?? []).map((c) => c.name).join(', ');
      throw new InvalidInputError(`NIC of node ${node.name} has no IP configuration "${node.ipConfigurationName}" (it has: ${names || 'none'}); set ipConfigurationName`, this.context(node));
    }
    return ipConfig;
  }

  private isOurPool(id: string): boolean {
    return sameResourceId(id, this.pools.write) || sameResourceId(id, this.pools.read);
  }

  private context(node: PoolMember) {
    return { ...(this.options.cluster ? { cluster: this.options.cluster } : {}), node: node.name, step: 'load-balancer' };
  }
}

function sameSet(a: string[], b: string[]): boolean {
  const norm = (ids: string[]) => [...new Set(ids.map((id) => id.toLowerCase()))].sort().join('\n');
  return norm(a) === norm(b);
}
