import type { LoadBalancerConfig } from '../../config/schema';
import type { PoolRole } from '../../ports/load-balancer';

/** The ARM ids of the cluster's two backend pools, and which role each stands for. */
export interface PoolIds {
  write: string;
  read: string;
}

export function poolIds(lb: LoadBalancerConfig): PoolIds {
  return { write: `${lb.resourceId}/backendAddressPools/${lb.writePool}`, read: `${lb.resourceId}/backendAddressPools/${lb.readPool}` };
}

/** The pools a node in `role` belongs to (of the two the cluster owns). */
export function poolsForRole(role: PoolRole): ('write' | 'read')[] {
  return role === 'none' ? [] : [role];
}
