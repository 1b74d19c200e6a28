import { AzureLoadBalancerPools } from '../../../src/adapters/azure/load-balancer';
import { LoadBalancerUpdateError } from '../../../src/ports/errors';
import type { PoolsSnapshot } from '../../../harness/local/azure-emulator';
import { type Harness, startHarness, testCluster, waitFor } from './harness';

/** Routed members of the write and read pools, as VM names, from the emulator's data plane. */
function routed(snapshot: PoolsSnapshot | undefined) {
  const names = (pool: string) => (snapshot?.pools[pool] ?? []).map((m) => m.vm ?? m.ipAddress);
  return { write: names('pg-write'), read: names('pg-read') };
}

describe.each(['nic', 'ip'] as const)('load balancer pools (%s-based) through the real network SDK', (membership) => {
  let h: Harness;
  let lb: AzureLoadBalancerPools;
  const notifications: PoolsSnapshot[] = [];
  const writes = () => h.emulator.record.requests.filter((r) => r.method === 'PUT');
  const node = (name: string) => h.cluster.nodes.find((n) => n.name === name) as (typeof h.cluster.nodes)[number];
  const resourceOf = (name: string, pool: 'pg-write' | 'pg-read') => (membership === 'nic' ? (node(name).nicResourceId as string) : `${h.cluster.loadBalancer.resourceId}/backendAddressPools/${pool}`);

  beforeAll(async () => {
    h = await startHarness(testCluster(membership), { onPoolsChanged: (snapshot) => notifications.push(snapshot) }, { pg1: 'write', pg2: 'read', pg3: 'read' });
    lb = new AzureLoadBalancerPools(h.clients, h.cluster.loadBalancer, h.cluster.nodes, h.options);
  });
  afterAll(() => h.emulator.stop());

  test('reads the current membership by node name', async () => {
    await expect(lb.readPools()).resolves.toEqual({ write: ['pg1'], read: ['pg2', 'pg3'], unknown: [] });
    expect(routed(notifications.at(-1))).toEqual({ write: ['pg1'], read: ['pg2', 'pg3'] });
  });

  test('a switchover: old primary out of both pools, candidate into write, old primary back into read', async () => {
    await expect(lb.setRole(node('pg1'), 'none')).resolves.toEqual({ changed: true });
    // setRole returns only after Azure finished: the data path has already followed.
    expect(routed(h.emulator.control.pools()[0])).toEqual({ write: [], read: ['pg2', 'pg3'] });
    await expect(lb.setRole(node('pg2'), 'write')).resolves.toEqual({ changed: true });
    await expect(lb.setRole(node('pg1'), 'read')).resolves.toEqual({ changed: true });
    await expect(lb.readPools()).resolves.toEqual({ write: ['pg2'], read: ['pg1', 'pg3'], unknown: [] });
    expect(routed(notifications.at(-1))).toEqual({ write: ['pg2'], read: ['pg1', 'pg3'] });
    // No moment with two writers: every notification shows at most one node in the write pool.
    expect(notifications.every((n) => routed(n).write.length <= 1)).toBe(true);
  });

  test('idempotent: a node already in its role causes no write', async () => {
    const before = writes().length;
    await expect(lb.setRole(node('pg2'), 'write')).resolves.toEqual({ changed: false });
    await expect(lb.setRole(node('pg3'), 'read')).resolves.toEqual({ changed: false });
    expect(writes().length).toBe(before);
  });

  test('412 on a stale etag: the adapter re-reads and retries', async () => {
    const before = h.emulator.record.requests.length;
    h.emulator.control.bumpEtagBeforeNextWrite(resourceOf('pg3', 'pg-read'));
    await expect(lb.setRole(node('pg3'), 'none')).resolves.toEqual({ changed: true });
    const statuses = h.emulator.record.requests.slice(before).filter((r) => r.method === 'PUT').map((r) => r.status);
    expect(statuses).toEqual([412, 200]);
    await expect(lb.readPools()).resolves.toEqual({ write: ['pg2'], read: ['pg1'], unknown: [] });
  });

  test('409 while another client updates the same resource: the adapter waits and retries', async () => {
    await lb.setRole(node('pg3'), 'read');
    const network = h.clients.network(h.cluster.nodes[0].vmResourceId.split('/')[2]);
    const release = h.emulator.control.holdOperations();
    // Another client re-writes the resource (unchanged) and its update stays in progress.
    const other =
      membership === 'nic'
        ? await network.networkInterfaces.beginCreateOrUpdate('pg-rg', 'pg3-nic', await network.networkInterfaces.get('pg-rg', 'pg3-nic'), { updateIntervalInMs: 5 })
        : await network.loadBalancerBackendAddressPools.beginCreateOrUpdate('pg-rg', 'pg-ilb', 'pg-read', await network.loadBalancerBackendAddressPools.get('pg-rg', 'pg-ilb', 'pg-read'), { updateIntervalInMs: 5 });
    const conflictsBefore = writes().filter((r) => r.status === 409).length;
    const move = lb.setRole(node('pg3'), 'none');
    await waitFor('the adapter to be refused with 409 twice', () => writes().filter((r) => r.status === 409).length >= conflictsBefore + 2);
    release();
    await other.pollUntilDone();
    await expect(move).resolves.toEqual({ changed: true });
    await expect(lb.readPools()).resolves.toEqual({ write: ['pg2'], read: ['pg1'], unknown: [] });
  });

  test('members the cluster does not know are reported, not hidden', async () => {
    const network = h.clients.network(h.cluster.nodes[0].vmResourceId.split('/')[2]);
    if (membership === 'ip') {
      const pool = await network.loadBalancerBackendAddressPools.get('pg-rg', 'pg-ilb', 'pg-write');
      pool.loadBalancerBackendAddresses = [...(pool.loadBalancerBackendAddresses ?? []), { name: 'stray', ipAddress: '10.0.1.99', virtualNetwork: { id: h.cluster.loadBalancer.virtualNetworkId } }];
      await network.loadBalancerBackendAddressPools.createOrUpdate('pg-rg', 'pg-ilb', 'pg-write', pool, { updateIntervalInMs: 5 });
      await expect(lb.readPools()).resolves.toMatchObject({ unknown: [{ pool: 'write', member: '10.0.1.99' }] });
    } else {
      await expect(lb.readPools()).resolves.toMatchObject({ unknown: [] });
    }
  });
});

test('conflicts beyond the retry budget end in LoadBalancerUpdateError', async () => {
  const h = await startHarness(testCluster('nic'), {}, { pg1: 'write' });
  try {
    const lb = new AzureLoadBalancerPools(h.clients, h.cluster.loadBalancer, h.cluster.nodes, { ...h.options, conflictRetry: { baseDelayMs: 1, maxDelayMs: 2, budgetMs: 0 } });
    h.emulator.control.bumpEtagBeforeNextWrite(h.cluster.nodes[0].nicResourceId as string);
    await expect(lb.setRole(h.cluster.nodes[0], 'none')).rejects.toThrow(LoadBalancerUpdateError);
  } finally {
    await h.emulator.stop();
  }
});

test('Azure errors other than conflicts become LoadBalancerUpdateError naming the node', async () => {
  const h = await startHarness(testCluster('nic'));
  try {
    const lb = new AzureLoadBalancerPools(h.clients, h.cluster.loadBalancer, h.cluster.nodes, h.options);
    const ghost = { ...h.cluster.nodes[0], name: 'pg9', nicResourceId: (h.cluster.nodes[0].nicResourceId as string).replace('pg1-nic', 'pg9-nic') };
    const error = await lb.setRole(ghost, 'read').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadBalancerUpdateError);
    // The app's role is assigned on the cluster's own NICs only: ARM answers 403 for any other, existing or not.
    expect((error as LoadBalancerUpdateError).message).toMatch(/set pg9 to read: 403 AuthorizationFailed .*'Microsoft.Network\/networkInterfaces\/read' over scope '.*\/pg9-nic'/);
    expect((error as LoadBalancerUpdateError).context).toMatchObject({ cluster: 'orders', node: 'pg9' });
  } finally {
    await h.emulator.stop();
  }
});
