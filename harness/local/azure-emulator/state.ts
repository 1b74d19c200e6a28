import { randomUUID } from 'node:crypto';
import type { EmulatorWorld } from './world';

export type VmPowerState = 'starting' | 'running' | 'stopping' | 'stopped' | 'deallocating' | 'deallocated';

/** Stopped or deallocated: nothing runs on the VM. */
export const isOff = (state: VmPowerState): boolean => state === 'stopped' || state === 'deallocated';

export interface ManagedRunCommandState {
  name: string;
  id: string;
  location: string;
  script: string;
  parameters: { name: string; value: string }[];
  /** Names only: protected values are never kept in the emulator's state. */
  protectedParameterNames: string[];
  /** Keyed hash of the whole request (protected values included) to spot an identical PUT. */
  fingerprint: string;
  asyncExecution: boolean;
  timeoutInSeconds: number | undefined;
  treatFailureAsDeploymentFailure: boolean;
  provisioningState: 'Creating' | 'Updating' | 'Succeeded' | 'Failed' | 'Deleting';
  instanceView: {
    executionState: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'TimedOut';
    executionMessage?: string;
    exitCode?: number;
    output?: string;
    error?: string;
    startTime?: string;
    endTime?: string;
  };
}

export interface VmState {
  name: string;
  id: string;
  resourceGroup: string;
  subscriptionId: string;
  location: string;
  privateIp: string;
  nicId: string | undefined;
  powerState: VmPowerState;
  /** True while any Run Command (either API) runs on the VM: the platform runs one at a time. */
  runCommandBusy: boolean;
  /** Ends the script that Run Command runs now: the VM went off under it (docs/azure-platform.md §10). */
  runningScript: AbortController | undefined;
  powerOperationInProgress: boolean;
  runCommands: Map<string, ManagedRunCommandState>;
}

export interface IpConfigurationState {
  name: string;
  privateIp: string;
  /** Pool ids as the last writer spelled them (control plane). */
  poolIds: string[];
  subnetId: string;
}

export interface NicState {
  id: string;
  name: string;
  location: string;
  etag: string;
  vmId: string | undefined;
  ipConfigurations: IpConfigurationState[];
  provisioningState: 'Succeeded' | 'Updating';
  /** Test hook: the next write first sees the etag change, as if someone else wrote in between. */
  bumpEtagBeforeNextWrite: boolean;
}

export interface PoolAddressState {
  name: string;
  ipAddress: string;
  virtualNetworkId: string;
}

export interface PoolState {
  id: string;
  name: string;
  etag: string;
  addresses: PoolAddressState[];
  provisioningState: 'Succeeded' | 'Updating';
  bumpEtagBeforeNextWrite: boolean;
}

export interface LoadBalancerState {
  id: string;
  name: string;
  location: string;
  etag: string;
  pools: Map<string, PoolState>;
}

export interface SecretVersion {
  version: string;
  value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  created: number;
}

export const newEtag = (): string => `W/"${randomUUID()}"`;
export const key = (id: string): string => id.toLowerCase();

/** Everything the emulated Azure knows: the control plane (what ARM reads return) and the data plane (what the load balancer really routes to). */
export class EmulatorState {
  readonly vms = new Map<string, VmState>();
  readonly nics = new Map<string, NicState>();
  readonly loadBalancers = new Map<string, LoadBalancerState>();
  readonly secrets = new Map<string, SecretVersion[]>();
  readonly tenantId: string;
  /** Data plane: the pools each NIC IP configuration is in (by `${nicId}/ipConfigurations/${name}`), once its update completed. */
  readonly appliedNicPools = new Map<string, { privateIp: string; poolIds: string[] }>();
  /** Data plane: the addresses of each IP-based pool, once its update completed. */
  readonly appliedPoolAddresses = new Map<string, string[]>();

  constructor(world: EmulatorWorld) {
    const location = world.location ?? 'westeurope';
    this.tenantId = world.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
    for (const lb of world.loadBalancers) {
      const name = lb.resourceId.split('/').pop() as string;
      const pools = new Map<string, PoolState>();
      for (const pool of lb.pools) {
        const id = `${lb.resourceId}/backendAddressPools/${pool.name}`;
        const addresses = (pool.addresses ?? []).map((a) => ({ ...a }));
        pools.set(key(pool.name), { id, name: pool.name, etag: newEtag(), addresses, provisioningState: 'Succeeded', bumpEtagBeforeNextWrite: false });
        this.appliedPoolAddresses.set(key(id), addresses.map((a) => a.ipAddress));
      }
      this.loadBalancers.set(key(lb.resourceId), { id: lb.resourceId, name, location, etag: newEtag(), pools });
    }
    for (const vm of world.vms) {
      const [, subscriptionId, resourceGroup] = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(vm.resourceId) ?? [];
      this.vms.set(key(vm.resourceId), {
        name: vm.name,
        id: vm.resourceId,
        resourceGroup,
        subscriptionId,
        location,
        privateIp: vm.privateIp,
        nicId: vm.nic?.resourceId,
        powerState: vm.powerState ?? 'running',
        runCommandBusy: false,
        runningScript: undefined,
        powerOperationInProgress: false,
        runCommands: new Map(),
      });
      if (vm.nic) {
        const ipConfigName = vm.nic.ipConfigurationName ?? 'ipconfig1';
        const poolIds = [...(vm.nic.poolIds ?? [])];
        this.nics.set(key(vm.nic.resourceId), {
          id: vm.nic.resourceId,
          name: vm.nic.resourceId.split('/').pop() as string,
          location,
          etag: newEtag(),
          vmId: vm.resourceId,
          ipConfigurations: [{ name: ipConfigName, privateIp: vm.privateIp, poolIds, subnetId: vm.nic.subnetId }],
          provisioningState: 'Succeeded',
          bumpEtagBeforeNextWrite: false,
        });
        this.appliedNicPools.set(key(`${vm.nic.resourceId}/ipConfigurations/${ipConfigName}`), { privateIp: vm.privateIp, poolIds });
      }
    }
    for (const [name, value] of Object.entries(world.secrets ?? {})) this.addSecretVersion(name, value, undefined, undefined);
  }

  findVmByName(name: string): VmState | undefined {
    return [...this.vms.values()].find((vm) => vm.name.toLowerCase() === name.toLowerCase());
  }

  findPool(poolId: string): { lb: LoadBalancerState; pool: PoolState } | undefined {
    const match = /^(.*)\/backendAddressPools\/([^/]+)$/i.exec(poolId);
    if (!match) return undefined;
    const lb = this.loadBalancers.get(key(match[1]));
    const pool = lb?.pools.get(key(match[2]));
    return lb && pool ? { lb, pool } : undefined;
  }

  /** NIC IP configurations that reference the pool in the control plane (what ARM shows as backendIPConfigurations). */
  nicMembersOf(pool: PoolState): string[] {
    const members: string[] = [];
    for (const nic of this.nics.values()) {
      for (const ipConfig of nic.ipConfigurations) {
        if (ipConfig.poolIds.some((id) => key(id) === key(pool.id))) members.push(`${nic.id}/ipConfigurations/${ipConfig.name}`);
      }
    }
    return members;
  }

  addSecretVersion(name: string, value: string, contentType: string | undefined, tags: Record<string, string> | undefined): SecretVersion {
    const version: SecretVersion = { version: randomUUID().replace(/-/g, ''), value, contentType, tags, created: Math.floor(Date.now() / 1000) };
    const versions = this.secrets.get(key(name)) ?? [];
    versions.push(version);
    this.secrets.set(key(name), versions);
    return version;
  }
}
