import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { automaticFailoverReport, checkUntil, freeze, rejoinReport, splitAtNewPrimary, sql, startFailoverStack, verdicts, waitUntilNotStreaming, waitUntilPrimary, check } from './support';

/**
 * A primary that hangs for longer than the grace period, with the default fence (power-off through
 * ARM): it is failed over automatically, its VM powered off before a standby is promoted, so when
 * the "VM" would have resumed there is nothing left to resume; powered on again it comes back as
 * a primary outside the pools and the health check rejoins it with pg_rewind.
 */
describe('a frozen primary, fenced by power-off', () => {
  let stack: LocalStack;
  let load: WriteLoad | undefined;

  beforeAll(async () => {
    stack = await startFailoverStack('40.6', { policy: { fenceByPowerOff: true, health: { failureThreshold: 2, graceSeconds: 4, probeTimeoutMs: 500 } } });
    for (const node of ['pg1', 'pg2', 'pg3']) {
      await sql(stack, node, "ALTER SYSTEM SET wal_receiver_timeout = '2s'");
      await sql(stack, node, 'SELECT pg_reload_conf()');
    }
  });

  afterAll(async () => {
    await load?.stop();
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  it('is failed over automatically after the grace, powered off first, and later rejoined', async () => {
    load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');
    const poolChangesBefore = stack.azure.record.poolChanges.length;

    const thaw = freeze(stack, 'pg1');
    let promoted: string;
    try {
      await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
      const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', 60);
      expect(verdicts(states).at(-1)).toBe('primary-dead');
      const report = await automaticFailoverReport(stack, states.at(-1)!);
      expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
      const names = report.steps.map((s) => s.name);
      expect(names.indexOf('power off pg1')).toBeGreaterThan(-1);
      expect(names.indexOf('power off pg1')).toBeLessThan(names.indexOf('promote candidate'));
      expect(stack.azure.control.powerState('pg1')).toBe('stopped');
      promoted = report.newPrimary!;
    } finally {
      thaw(); // nothing is left to resume: the power-off killed every process of pg1
    }

    await load.waitForCommits(30);
    const writes = await load.stop();
    load = undefined;
    // S2 (docs/invariants.md): after the first commit on the new primary, every acknowledged commit came from it.
    const { after } = splitAtNewPrimary(writes.acknowledged, hostOf(promoted));
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((c) => c.server !== hostOf(promoted))).toEqual([]);
    for (const snapshot of stack.azure.record.poolChanges.slice(poolChangesBefore)) {
      expect((snapshot.pools['pg-write'] ?? []).map((m) => m.ipAddress)).not.toContain(hostOf('pg1'));
    }
    const lost = await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged);
    process.stdout.write(`frozen primary, power-off fence: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);

    // Powered on again: a primary outside the pools, fenced and rewound by the health check.
    stack.azure.control.setPowerState('pg1', 'running');
    await waitUntilPrimary(stack, 'pg1');
    await checkUntil(stack, (s) => s.lastAction?.kind === 'rejoin' && s.lastAction.node === 'pg1', 10);
    expect(await rejoinReport(stack, 'pg1')).toMatchObject({ outcome: 'rejoined', method: 'pg_rewind', primary: promoted });
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([promoted]);
    expect(status.ilb.writePool).toEqual([promoted]);
  });
});
