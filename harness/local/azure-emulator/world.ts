import { isIP } from 'node:net';
import type { ClusterConfig } from '../../../src/config/schema';
import type { PoolRole } from '../../../src/ports/load-balancer';
import failoverOperatorRole from '../../../bicep/roles/failover-operator.json';
import type { RoleAssignment } from './authorization';

/** The emulated Azure's starting state. Resource ids are full ARM ids; lookups ignore case, as ARM does. */
export interface EmulatorWorld {
  /** Azure region reported for every resource (default "westeurope"). */
  location?: string;
  /** Entra tenant named in Key Vault's 401 challenge. */
  tenantId?: string;
  vms: WorldVm[];
  loadBalancers: WorldLoadBalancer[];
  /** Key Vault secrets by name (one version each to start with). */
  secrets?: Record<string, string>;
  /** The app identity's role and where it is assigned: every ARM request is held to it. */
  authorization: RoleAssignment;
  /**
   * The app identity's data role on the vault (default Key Vault Secrets User: it reads secrets
   * and may not write them; Key Vault Secrets Officer: it may). Key Vault holds writes to it.
   */
  keyVaultRole?: KeyVaultRole;
}

export type KeyVaultRole = 'Key Vault Secrets User' | 'Key Vault Secrets Officer';

export interface WorldVm {
  name: string;
  resourceId: string;
  /** The VM's private IP (its NIC's IP configuration carries it). */
  privateIp: string;
  /** The VM's NIC; needed for NIC-based pools. */
  nic?: { resourceId: string; subnetId: string; ipConfigurationName?: string; poolIds?: string[] };
  powerState?: 'running' | 'stopped' | 'deallocated';
}

export interface WorldLoadBalancer {
  resourceId: string;
  pools: { name: string; addresses?: { name: string; ipAddress: string; virtualNetworkId: string }[] }[];
}

/** Checks the world before anything starts, so a bad lab setup fails with a clear message. */
export function validateWorld(world: EmulatorWorld): void {
  const problems: string[] = [];
  const vmNames = new Set<string>();
  for (const vm of world.vms) {
    if (vmNames.has(vm.name.toLowerCase())) problems.push(`VM name ${vm.name} appears twice`);
    vmNames.add(vm.name.toLowerCase());
    if (!/\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+$/i.test(vm.resourceId)) problems.push(`VM ${vm.name}: ${vm.resourceId} is not a virtual machine id`);
    else if (!vm.resourceId.toLowerCase().endsWith(`/${vm.name.toLowerCase()}`)) problems.push(`VM ${vm.name}: its resource id ends in another name`);
    if (!isIP(vm.privateIp)) problems.push(`VM ${vm.name}: privateIp ${vm.privateIp} is not an IP address`);
    if (vm.nic && !/\/providers\/Microsoft\.Network\/networkInterfaces\/[^/]+$/i.test(vm.nic.resourceId)) problems.push(`VM ${vm.name}: ${vm.nic.resourceId} is not a network interface id`);
  }
  const poolIds = new Set<string>();
  for (const lb of world.loadBalancers) {
    if (!/\/providers\/Microsoft\.Network\/loadBalancers\/[^/]+$/i.test(lb.resourceId)) problems.push(`${lb.resourceId} is not a load balancer id`);
    for (const pool of lb.pools) poolIds.add(`${lb.resourceId}/backendAddressPools/${pool.name}`.toLowerCase());
  }
  for (const vm of world.vms) {
    for (const id of vm.nic?.poolIds ?? []) if (!poolIds.has(id.toLowerCase())) problems.push(`VM ${vm.name}: its NIC joins ${id}, which no load balancer in the world has`);
  }
  if (problems.length) throw new Error(`Invalid emulator world:\n  - ${problems.join('\n  - ')}`);
}

/**
 * The world that matches a cluster configuration: one VM (and NIC) per node at the node's host
 * address, the cluster's load balancer with its write and read pools, and the given secrets.
 * `roles` puts nodes into the pools at the start (default: none anywhere).
 */
export function worldFromCluster(
  cluster: ClusterConfig,
  options: { secrets?: Record<string, string>; roles?: Record<string, PoolRole>; tenantId?: string; keyVaultRole?: KeyVaultRole } = {},
): EmulatorWorld {
  const lb = cluster.loadBalancer;
  const poolId = (pool: string) => `${lb.resourceId}/backendAddressPools/${pool}`;
  const roleOf = (node: string) => options.roles?.[node] ?? 'none';
  const poolOfRole = (role: PoolRole) => (role === 'write' ? lb.writePool : role === 'read' ? lb.readPool : undefined);
  const vnet = lb.virtualNetworkId ?? '';
  const subnetId = databaseSubnetId(cluster);
  return {
    tenantId: options.tenantId,
    secrets: options.secrets,
    authorization: failoverRoleAssignment(cluster, [subnetId]),
    keyVaultRole: options.keyVaultRole,
    vms: cluster.nodes.map((node) => {
      const pool = poolOfRole(roleOf(node.name));
      return {
        name: node.vmResourceId.split('/').pop() as string,
        resourceId: node.vmResourceId,
        privateIp: node.host,
        nic: node.nicResourceId
          ? { resourceId: node.nicResourceId, subnetId, ipConfigurationName: node.ipConfigurationName, poolIds: lb.membership === 'nic' && pool ? [poolId(pool)] : [] }
          : undefined,
      };
    }),
    loadBalancers: [
      {
        resourceId: lb.resourceId,
        pools: [lb.writePool, lb.readPool].map((pool) => ({
          name: pool,
          addresses:
            lb.membership === 'ip'
              ? cluster.nodes.filter((node) => poolOfRole(roleOf(node.name)) === pool).map((node) => ({ name: node.name, ipAddress: node.host, virtualNetworkId: vnet }))
              : [],
        })),
      },
    ],
  };
}

/**
 * The database subnet the cluster's NICs are in. The configuration does not name it (the
 * deployment takes it as its databaseSubnetIds parameter): the cluster's virtual network, or one
 * beside its load balancer.
 */
function databaseSubnetId(cluster: ClusterConfig): string {
  const vnet = cluster.loadBalancer.virtualNetworkId ?? `${cluster.loadBalancer.resourceId.replace(/\/loadBalancers\/[^/]+$/i, '')}/virtualNetworks/${cluster.name}-vnet`;
  return `${vnet}/subnets/database`;
}

/**
 * The custom role the deployment defines (bicep/roles/failover-operator.json), assigned where
 * main.bicep assigns it: each VM, each NIC, the load balancer, the database subnets and, for
 * IP-based pools, the virtual network.
 */
export function failoverRoleAssignment(cluster: ClusterConfig, subnetIds: readonly string[]): RoleAssignment {
  const lb = cluster.loadBalancer;
  return {
    actions: failoverOperatorRole.permissions.map((p) => p.action),
    scopes: [
      ...cluster.nodes.map((node) => node.vmResourceId),
      ...cluster.nodes.flatMap((node) => (node.nicResourceId ? [node.nicResourceId] : [])),
      lb.resourceId,
      ...subnetIds,
      ...(lb.membership === 'ip' && lb.virtualNetworkId ? [lb.virtualNetworkId] : []),
    ],
  };
}
