import { powerStateOf } from '../../../src/adapters/azure/fencing';
import { uniqueRunCommandName } from '../../../src/adapters/azure/managed-run-command';
import { ClusterSchema } from '../../../src/config/schema';
import { REALISTIC_LATENCY, resolveLatency, ZERO_LATENCY } from '../../../harness/local/azure-emulator/latency';
import { validateWorld, worldFromCluster } from '../../../harness/local/azure-emulator/world';

const RG = '/subscriptions/s1/resourceGroups/rg/providers';
const cluster = (membership: 'nic' | 'ip') =>
  ClusterSchema.parse({
    name: 'c1',
    nodes: ['a', 'b'].map((n, i) => ({ name: n, vmResourceId: `${RG}/Microsoft.Compute/virtualMachines/vm-${n}`, nicResourceId: `${RG}/Microsoft.Network/networkInterfaces/nic-${n}`, host: `10.0.0.${i + 4}` })),
    loadBalancer: { resourceId: `${RG}/Microsoft.Network/loadBalancers/lb`, writePool: 'w', readPool: 'r', membership, virtualNetworkId: `${RG}/Microsoft.Network/virtualNetworks/v` },
    postgres: { adminPasswordSecret: 'a', replicationPasswordSecret: 'b', sslRootCertSecret: 'c' },
  });

describe('emulator world', () => {
  test('from a NIC-based cluster: roles become NIC pool references', () => {
    const world = worldFromCluster(cluster('nic'), { roles: { a: 'write', b: 'read' } });
    expect(world.vms.map((vm) => [vm.name, vm.privateIp, vm.nic?.poolIds])).toEqual([
      ['vm-a', '10.0.0.4', [`${RG}/Microsoft.Network/loadBalancers/lb/backendAddressPools/w`]],
      ['vm-b', '10.0.0.5', [`${RG}/Microsoft.Network/loadBalancers/lb/backendAddressPools/r`]],
    ]);
    expect(() => validateWorld(world)).not.toThrow();
  });

  test('from an IP-based cluster: roles become pool addresses', () => {
    const world = worldFromCluster(cluster('ip'), { roles: { a: 'write' } });
    expect(world.loadBalancers[0].pools).toEqual([
      { name: 'w', addresses: [{ name: 'a', ipAddress: '10.0.0.4', virtualNetworkId: `${RG}/Microsoft.Network/virtualNetworks/v` }] },
      { name: 'r', addresses: [] },
    ]);
  });

  test('a broken world is refused with every problem named', () => {
    expect(() =>
      validateWorld({
        vms: [
          { name: 'x', resourceId: `${RG}/Microsoft.Compute/virtualMachines/y`, privateIp: 'nope', nic: { resourceId: `${RG}/Microsoft.Network/networkInterfaces/n`, subnetId: `${RG}/Microsoft.Network/virtualNetworks/v/subnets/s`, poolIds: [`${RG}/Microsoft.Network/loadBalancers/lb/backendAddressPools/missing`] } },
        ],
        loadBalancers: [],
        authorization: { actions: [], scopes: [] },
      }),
    ).toThrow(/ends in another name[\s\S]*not an IP address[\s\S]*no load balancer/);
  });
});

describe('latency profiles', () => {
  test('custom profiles start from zero', () => {
    expect(resolveLatency({ nicUpdateMs: 50, retryAfterSeconds: { network: 1 } })).toEqual({ ...ZERO_LATENCY, nicUpdateMs: 50, retryAfterSeconds: { compute: undefined, network: 1 } });
    expect(resolveLatency('realistic')).toBe(REALISTIC_LATENCY);
    expect(resolveLatency()).toBe(ZERO_LATENCY);
  });
});

describe('small Azure readings', () => {
  test('power state from instance view statuses', () => {
    expect(powerStateOf([{ code: 'ProvisioningState/succeeded' }, { code: 'PowerState/deallocated' }])).toBe('deallocated');
    expect(powerStateOf([{ code: 'ProvisioningState/updating' }])).toBe('unknown');
    expect(powerStateOf([{ code: 'PowerState/hibernated' }])).toBe('unknown');
  });

  test('run command names are unique, valid and say which script', () => {
    const a = uniqueRunCommandName('promote standby!', 0);
    const b = uniqueRunCommandName('promote standby!', 0);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^pgfo-promote-standby-0-[0-9a-f]{8}$/);
    expect(uniqueRunCommandName('x'.repeat(200)).length).toBeLessThanOrEqual(80);
  });
});
