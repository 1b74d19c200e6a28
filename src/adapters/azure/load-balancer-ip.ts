import type { BackendAddressPool, LoadBalancerBackendAddress, NetworkManagementClient } from '@azure/arm-network';
import { isIP } from 'node:net';
import type { LoadBalancerConfig } from '../../config/schema';
import { InvalidInputError } from '../../domain/errors';
import type { PoolMember, PoolMembership, PoolRole, SetRoleResult } from '../../ports/load-balancer';
import { withConflictRetry } from './conflict-retry';
import { ifMatch } from './if-match-policy';
import type { ResolvedAdapterOptions } from './options';
import { poolsForRole } from './pool-ids';
import { parseResourceId } from './resource-id';

type NetworkFor = (subscriptionId: string) => NetworkManagementClient;

/**
 * IP-based pools: each pool lists its members as {name, ipAddress, virtualNetwork}. Moving a node
 * is one update per pool; removals go first, so a node leaving the write pool is out of it
 * before it joins the read pool (never two writers behind the write frontend).
 */
export class IpPoolMembership {
  constructor(
    private readonly network: NetworkFor,
    private readonly lb: LoadBalancerConfig,
    private readonly nodes: readonly PoolMember[],
    private readonly options: ResolvedAdapterOptions,
  ) {}

  async setRole(node: PoolMember, role: PoolRole): Promise<SetRoleResult> {
    if (!isIP(node.host)) throw new InvalidInputError(`node ${node.name}: IP-based pools need host to be an IP address, not "${node.host}"`, this.context(node));
    const wanted = new Set(poolsForRole(role));
    const removals = (['write', 'read'] as const).filter((pool) => !wanted.has(pool));
    let changed = false;
    for (const pool of [...removals, ...wanted]) {
      if (await this.ensureMember(pool, node, wanted.has(pool))) changed = true;
    }
    return { changed };
  }

  async readPools(): Promise<PoolMembership> {
    const membership: PoolMembership = { write: [], read: [], unknown: [] };
    for (const pool of ['write', 'read'] as const) {
      const resource = await this.getPool(pool);
      for (const address of resource.loadBalancerBackendAddresses ?? []) {
        const node = this.nodes.find((n) => n.host === address.ipAddress);
        if (node) membership[pool].push(node.name);
        else membership.unknown.push({ pool, member: address.ipAddress ?? address.name ?? '(no address)' });
      }
    }
    membership.write.sort();
    membership.read.sort();
    return membership;
  }

  /** Makes `node` a member of `pool` or not; true when it had to write. */
  private async ensureMember(pool: 'write' | 'read', node: PoolMember, member: boolean): Promise<boolean> {
    const lbId = parseResourceId(this.lb.resourceId, 'Microsoft.Network/loadBalancers');
    const client = this.network(lbId.subscriptionId);
    const poolName = this.poolName(pool);
    let changed = false;
    await withConflictRetry(`${member ? 'add' : 'remove'} ${node.name} ${member ? 'to' : 'from'} the ${pool} pool`, this.options, this.context(node), async () => {
      const resource = await this.getPool(pool);
      const addresses = resource.loadBalancerBackendAddresses ?? [];
      const present = addresses.some((a) => a.ipAddress === node.host);
      if (present === member) return 'done';
      resource.loadBalancerBackendAddresses = member ? [...addresses, this.addressOf(node)] : addresses.filter((a) => a.ipAddress !== node.host);
      this.options.log.info('lb.update', { node: node.name, pool: poolName, member, membership: 'ip' });
      await client.loadBalancerBackendAddressPools.createOrUpdate(lbId.resourceGroup, lbId.name, poolName, resource, {
        ...ifMatch(resource.etag),
        updateIntervalInMs: this.options.pollIntervalMs,
      });
      changed = true;
      return 'verify';
    });
    return changed;
  }

  private async getPool(pool: 'write' | 'read'): Promise<BackendAddressPool> {
    const lbId = parseResourceId(this.lb.resourceId, 'Microsoft.Network/loadBalancers');
    return this.network(lbId.subscriptionId).loadBalancerBackendAddressPools.get(lbId.resourceGroup, lbId.name, this.poolName(pool));
  }

  private addressOf(node: PoolMember): LoadBalancerBackendAddress {
    if (!this.lb.virtualNetworkId) throw new InvalidInputError('loadBalancer.virtualNetworkId is required for IP-based pools', this.context(node));
    return { name: node.name, ipAddress: node.host, virtualNetwork: { id: this.lb.virtualNetworkId } };
  }

  private poolName(pool: 'write' | 'read'): string {
    return pool === 'write' ? this.lb.writePool : this.lb.readPool;
  }

  private context(node: PoolMember) {
    return { ...(this.options.cluster ? { cluster: this.options.cluster } : {}), node: node.name, step: 'load-balancer' };
  }
}
