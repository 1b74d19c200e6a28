import { AzureFencing } from '../../../src/adapters/azure/fencing';
import type { VmPowerState } from '../../../harness/local/azure-emulator';
import { type Harness, startHarness, testCluster, waitFor } from './harness';

describe('fencing through the real compute SDK', () => {
  let h: Harness;
  let fencing: AzureFencing;
  const changes: [string, VmPowerState][] = [];

  beforeAll(async () => {
    h = await startHarness(testCluster('nic'), { onPowerStateChanged: (vm, state) => changes.push([vm, state]) });
    fencing = new AzureFencing(h.clients, h.options);
  });
  afterAll(() => h.emulator.stop());
  const pg1 = () => h.cluster.nodes[0];

  test('power off without guest shutdown, polled until the VM is stopped', async () => {
    await expect(fencing.powerState(pg1())).resolves.toBe('running');
    const release = h.emulator.control.holdOperations();
    const off = fencing.powerOff(pg1());
    await waitFor('the VM to be stopping', () => h.emulator.control.powerState('pg1') === 'stopping');
    await expect(fencing.powerState(pg1())).resolves.toBe('stopping');
    const polls = () => h.emulator.record.requests.filter((r) => /\/operations\//.test(r.url)).length;
    const before = polls();
    await waitFor('the SDK to poll the operation', () => polls() >= before + 2);
    release();
    await off;
    await expect(fencing.powerState(pg1())).resolves.toBe('stopped');
    expect(h.emulator.record.requests.some((r) => r.method === 'POST' && /\/powerOff\?.*skipShutdown=true/.test(r.url))).toBe(true);
    expect(changes).toEqual([
      ['pg1', 'stopping'],
      ['pg1', 'stopped'],
    ]);
  });

  test('powering off a stopped VM again is harmless', async () => {
    await expect(fencing.powerOff(pg1())).resolves.toBeUndefined();
    await expect(fencing.powerState(pg1())).resolves.toBe('stopped');
  });

  test('deallocate', async () => {
    await fencing.powerOff(h.cluster.nodes[1], { deallocate: true });
    await expect(fencing.powerState(h.cluster.nodes[1])).resolves.toBe('deallocated');
  });
});
