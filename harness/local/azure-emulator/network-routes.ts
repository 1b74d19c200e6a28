import { isIP } from 'node:net';
import { authorizeLinked } from './authorization';
import type { EmulatorCore, Route } from './core';
import { AzureHttpError, notFound, optionalArray, requireObject, requireString, type RequestContext } from './http-kit';
import { key, type LoadBalancerState, newEtag, type NicState, type PoolAddressState, type PoolState } from './state';

const RG = String.raw`^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network`;
const route = (method: string, path: string, action: string, handler: Route['handler']): Route => ({ method, pattern: new RegExp(`${RG}${path}$`, 'i'), action, handler });

/** Network interfaces (NIC-based pool membership), load balancers and backend pools (IP-based membership). */
export function networkRoutes(core: EmulatorCore): Route[] {
  const nicOf = (match: RegExpExecArray): NicState => {
    const nic = core.state.nics.get(key(`/subscriptions/${match[1]}/resourceGroups/${match[2]}/providers/Microsoft.Network/networkInterfaces/${match[3]}`));
    if (!nic) throw notFound('Microsoft.Network/networkInterfaces', match[3], match[2]);
    return nic;
  };
  const lbOf = (match: RegExpExecArray): LoadBalancerState => {
    const lb = core.state.loadBalancers.get(key(`/subscriptions/${match[1]}/resourceGroups/${match[2]}/providers/Microsoft.Network/loadBalancers/${match[3]}`));
    if (!lb) throw notFound('Microsoft.Network/loadBalancers', match[3], match[2]);
    return lb;
  };
  const scope = (ctx: RequestContext, subscriptionId: string, location: string) => ({ subscriptionId, provider: 'Microsoft.Network', location, apiVersion: ctx.query('api-version') as string });

  return [
    route('GET', '/networkInterfaces/([^/]+)', 'Microsoft.Network/networkInterfaces/read', async (ctx, match) => ctx.send(200, nicBody(nicOf(match))), ),
    route('PUT', '/networkInterfaces/([^/]+)', 'Microsoft.Network/networkInterfaces/write', async (ctx, match) => {
      const nic = nicOf(match);
      const body = requireObject(await ctx.json(), 'the request body');
      checkPrecondition(ctx, nic, `network interface ${nic.name}`);
      if (nic.provisioningState !== 'Succeeded') throw anotherOperation(nic.id);
      const wanted = readNicPools(core, nic, body);
      authorizeLinked(core, { action: 'Microsoft.Network/networkInterfaces/write', resourceId: nic.id }, [
        ...nic.ipConfigurations.map((c) => ({ action: 'Microsoft.Network/virtualNetworks/subnets/join/action', resourceId: c.subnetId })),
        ...[...new Set([...wanted.values()].flat())].map((poolId) => ({ action: 'Microsoft.Network/loadBalancers/backendAddressPools/join/action', resourceId: poolId })),
      ]);
      const touchedPools = new Set<string>();
      for (const ipConfig of nic.ipConfigurations) {
        const next = wanted.get(ipConfig.name.toLowerCase()) ?? ipConfig.poolIds;
        for (const id of [...ipConfig.poolIds, ...next]) touchedPools.add(key(id));
        ipConfig.poolIds = next;
      }
      nic.etag = newEtag();
      nic.provisioningState = 'Updating';
      // ARM reflects the NIC's membership on the pool and its load balancer at once.
      for (const poolId of touchedPools) {
        const found = core.state.findPool(poolId);
        if (found) {
          found.pool.etag = newEtag();
          found.lb.etag = newEtag();
        }
      }
      const operation = core.operations.begin(scope(ctx, match[1], nic.location), core.latency.retryAfterSeconds.network);
      ctx.send(200, nicBody(nic), operation.headers({ location: false }));
      await core.timers.after(core.latency.nicUpdateMs);
      for (const ipConfig of nic.ipConfigurations) {
        core.state.appliedNicPools.set(key(`${nic.id}/ipConfigurations/${ipConfig.name}`), { privateIp: ipConfig.privateIp, poolIds: [...ipConfig.poolIds] });
      }
      nic.provisioningState = 'Succeeded';
      operation.succeed();
      core.pools.check();
    }),
    route('GET', '/loadBalancers/([^/]+)', 'Microsoft.Network/loadBalancers/read', async (ctx, match) => {
      const lb = lbOf(match);
      ctx.send(200, { id: lb.id, name: lb.name, type: 'Microsoft.Network/loadBalancers', location: lb.location, etag: lb.etag, sku: { name: 'Standard', tier: 'Regional' },
        properties: { provisioningState: 'Succeeded', backendAddressPools: [...lb.pools.values()].map((pool) => poolBody(core, pool)) } });
    }),
    route('GET', '/loadBalancers/([^/]+)/backendAddressPools/([^/]+)', 'Microsoft.Network/loadBalancers/backendAddressPools/read', async (ctx, match) => {
      const pool = lbOf(match).pools.get(key(match[4]));
      if (!pool) throw notFound('Microsoft.Network/loadBalancers/backendAddressPools', `${match[3]}/${match[4]}`, match[2]);
      ctx.send(200, poolBody(core, pool));
    }),
    route('PUT', '/loadBalancers/([^/]+)/backendAddressPools/([^/]+)', 'Microsoft.Network/loadBalancers/backendAddressPools/write', async (ctx, match) => {
      const lb = lbOf(match);
      const body = requireObject(await ctx.json(), 'the request body');
      let pool = lb.pools.get(key(match[4]));
      const created = !pool;
      if (pool) {
        checkPrecondition(ctx, pool, `backend pool ${pool.name}`);
        if (pool.provisioningState !== 'Succeeded') throw anotherOperation(pool.id);
      }
      const addresses = readAddresses(body);
      authorizeLinked(
        core,
        { action: 'Microsoft.Network/loadBalancers/backendAddressPools/write', resourceId: `${lb.id}/backendAddressPools/${match[4]}` },
        [...new Set(addresses.map((a) => a.virtualNetworkId))].map((vnet) => ({ action: 'Microsoft.Network/virtualNetworks/joinLoadBalancer/action', resourceId: vnet })),
      );
      if (pool && addresses.length && core.state.nicMembersOf(pool).length) {
        throw new AzureHttpError(400, 'MixingIPBasedAndNICBasedBackendAddressPoolNotAllowed', `Backend pool ${pool.id} has network interface members; it cannot also take IP addresses.`);
      }
      pool ??= { id: `${lb.id}/backendAddressPools/${match[4]}`, name: match[4], etag: '', addresses: [], provisioningState: 'Succeeded', bumpEtagBeforeNextWrite: false };
      lb.pools.set(key(pool.name), pool);
      pool.addresses = addresses;
      pool.etag = newEtag();
      lb.etag = newEtag();
      pool.provisioningState = 'Updating';
      const operation = core.operations.begin(scope(ctx, match[1], lb.location), core.latency.retryAfterSeconds.network);
      ctx.send(created ? 201 : 200, poolBody(core, pool), operation.headers({ location: false }));
      await core.timers.after(core.latency.poolUpdateMs);
      core.state.appliedPoolAddresses.set(key(pool.id), pool.addresses.map((a) => a.ipAddress));
      pool.provisioningState = 'Succeeded';
      operation.succeed();
      core.pools.check();
    }),
  ];
}

/**
 * If-Match: a write based on a stale read is refused with 412. The test hook changes the etag
 * first, exactly as if another client had written between our GET and PUT.
 */
function checkPrecondition(ctx: RequestContext, resource: NicState | PoolState, what: string): void {
  if (resource.bumpEtagBeforeNextWrite) {
    resource.bumpEtagBeforeNextWrite = false;
    resource.etag = newEtag();
  }
  const ifMatch = ctx.header('if-match');
  if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== resource.etag) {
    throw new AzureHttpError(412, 'PreconditionFailed', `Precondition failed: the If-Match etag ${ifMatch} does not match the current etag of ${what}.`);
  }
}

function anotherOperation(id: string): AzureHttpError {
  return new AzureHttpError(409, 'AnotherOperationInProgress', `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${id}`);
}

/** The pool ids each IP configuration of the PUT body asks for; only membership is taken from the body. */
function readNicPools(core: EmulatorCore, nic: NicState, body: Record<string, unknown>): Map<string, string[]> {
  const properties = requireObject(body.properties ?? {}, 'properties');
  const wanted = new Map<string, string[]>();
  optionalArray(properties.ipConfigurations, 'properties.ipConfigurations').forEach((item, i) => {
    const ipConfig = requireObject(item, `properties.ipConfigurations[${i}]`);
    const name = requireString(ipConfig.name, `properties.ipConfigurations[${i}].name`);
    if (!nic.ipConfigurations.some((c) => c.name.toLowerCase() === name.toLowerCase())) {
      throw new AzureHttpError(400, 'InvalidRequestFormat', `Network interface ${nic.name} has no IP configuration '${name}' (the emulator does not add IP configurations).`);
    }
    const props = requireObject(ipConfig.properties ?? {}, `properties.ipConfigurations[${i}].properties`);
    const pools = optionalArray(props.loadBalancerBackendAddressPools, `properties.ipConfigurations[${i}].properties.loadBalancerBackendAddressPools`).map((ref, j) => {
      const id = requireString(requireObject(ref, 'a backend pool reference').id, `loadBalancerBackendAddressPools[${j}].id`);
      const found = core.state.findPool(id);
      if (!found) throw new AzureHttpError(400, 'InvalidResourceReference', `Resource ${id} referenced by resource ${nic.id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`);
      if (found.pool.addresses.length) {
        throw new AzureHttpError(400, 'MixingIPBasedAndNICBasedBackendAddressPoolNotAllowed', `Backend pool ${id} has IP address members; a network interface cannot join it.`);
      }
      return found.pool.id;
    });
    wanted.set(name.toLowerCase(), pools);
  });
  return wanted;
}

function readAddresses(body: Record<string, unknown>): PoolAddressState[] {
  const properties = requireObject(body.properties ?? {}, 'properties');
  const poolVnet = properties.virtualNetwork === undefined ? undefined : requireString(requireObject(properties.virtualNetwork, 'properties.virtualNetwork').id, 'properties.virtualNetwork.id');
  return optionalArray(properties.loadBalancerBackendAddresses, 'properties.loadBalancerBackendAddresses').map((item, i) => {
    const address = requireObject(item, `loadBalancerBackendAddresses[${i}]`);
    const props = requireObject(address.properties ?? {}, `loadBalancerBackendAddresses[${i}].properties`);
    const ipAddress = requireString(props.ipAddress, `loadBalancerBackendAddresses[${i}].properties.ipAddress`);
    if (!isIP(ipAddress)) throw new AzureHttpError(400, 'InvalidIPAddress', `'${ipAddress}' is not a valid IP address.`);
    const vnet = props.virtualNetwork === undefined ? poolVnet : requireString(requireObject(props.virtualNetwork, 'virtualNetwork').id, `loadBalancerBackendAddresses[${i}].properties.virtualNetwork.id`);
    if (!vnet) throw new AzureHttpError(400, 'VirtualNetworkRequired', `Backend address ${ipAddress} needs a virtual network (properties.virtualNetwork.id).`);
    return { name: typeof address.name === 'string' ? address.name : `address-${i}`, ipAddress, virtualNetworkId: vnet };
  });
}

function nicBody(nic: NicState) {
  return {
    id: nic.id,
    name: nic.name,
    type: 'Microsoft.Network/networkInterfaces',
    location: nic.location,
    etag: nic.etag,
    properties: {
      provisioningState: nic.provisioningState,
      ...(nic.vmId ? { virtualMachine: { id: nic.vmId } } : {}),
      ipConfigurations: nic.ipConfigurations.map((c) => ({
        id: `${nic.id}/ipConfigurations/${c.name}`,
        name: c.name,
        etag: nic.etag,
        type: 'Microsoft.Network/networkInterfaces/ipConfigurations',
        properties: {
          provisioningState: nic.provisioningState,
          privateIPAddress: c.privateIp,
          privateIPAllocationMethod: 'Static',
          privateIPAddressVersion: isIP(c.privateIp) === 6 ? 'IPv6' : 'IPv4',
          subnet: { id: c.subnetId },
          primary: true,
          loadBalancerBackendAddressPools: c.poolIds.map((id) => ({ id })),
        },
      })),
    },
  };
}

function poolBody(core: EmulatorCore, pool: PoolState) {
  return {
    id: pool.id,
    name: pool.name,
    etag: pool.etag,
    type: 'Microsoft.Network/loadBalancers/backendAddressPools',
    properties: {
      provisioningState: pool.provisioningState,
      loadBalancerBackendAddresses: pool.addresses.map((a) => ({ name: a.name, properties: { ipAddress: a.ipAddress, virtualNetwork: { id: a.virtualNetworkId } } })),
      backendIPConfigurations: core.state.nicMembersOf(pool).map((id) => ({ id })),
    },
  };
}
