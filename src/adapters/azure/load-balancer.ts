import type { LoadBalancerConfig } from '../../config/schema';
import { ConfigError, FailoverError } from '../../domain/errors';
import { LoadBalancerUpdateError } from '../../ports/errors';
import type { LoadBalancerPools, PoolMember, PoolMembership, PoolRole, SetRoleResult } from '../../ports/load-balancer';
import type { AzureClients } from './clients';
import { IpPoolMembership } from './load-balancer-ip';
import { NicPoolMembership } from './load-balancer-nic';
import { type AzureAdapterOptions, resolveAdapterOptions } from './options';
import { azureErrorInfo } from './rest-errors';

/** The cluster's internal load balancer, NIC-based or IP-based pools as configured. */
export class AzureLoadBalancerPools implements LoadBalancerPools {
  private readonly impl: NicPoolMembership | IpPoolMembership;
  private readonly cluster: string | undefined;

  constructor(clients: Pick<AzureClients, 'network'>, lb: LoadBalancerConfig, nodes: readonly PoolMember[], options: AzureAdapterOptions = {}) {
    const resolved = resolveAdapterOptions(options);
    this.cluster = resolved.cluster;
    const network = (subscriptionId: string) => clients.network(subscriptionId);
    if (lb.membership === 'probe') throw new ConfigError('the cluster configuration', [{ path: 'loadBalancer.membership', message: 'probe mode moves no pool members through ARM: use the probe pools (src/adapters/agent/probe-pools.ts)' }]);
    this.impl = lb.membership === 'nic' ? new NicPoolMembership(network, lb, nodes, resolved) : new IpPoolMembership(network, lb, nodes, resolved);
  }

  setRole(node: PoolMember, role: PoolRole): Promise<SetRoleResult> {
    return this.impl.setRole(node, role).catch((error: unknown) => {
      throw this.wrap(error, `set ${node.name} to ${role}`, node.name);
    });
  }

  readPools(): Promise<PoolMembership> {
    return this.impl.readPools().catch((error: unknown) => {
      throw this.wrap(error, 'read the load balancer pools');
    });
  }

  /** SDK errors (not found, forbidden, network) become LoadBalancerUpdateError naming what we tried. */
  private wrap(error: unknown, what: string, node?: string): Error {
    if (error instanceof FailoverError) return error;
    const info = azureErrorInfo(error);
    const context = { ...(this.cluster ? { cluster: this.cluster } : {}), ...(node ? { node } : {}), step: 'load-balancer' };
    return new LoadBalancerUpdateError(`Could not ${what}: ${info.statusCode ?? 'no response'} ${info.code ?? ''} ${info.message}`.replace(/\s+/g, ' '), context, { cause: error });
  }
}
