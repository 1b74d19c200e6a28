import { LocalStack } from '../../../harness/local/stack';
import { WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { isAtOrPast } from '../../../src/domain/lsn';
import { automaticFailoverReport, check, checkUntil, expectOnlyTheOldPrimarysLastCommitsLost, inspect, operationMs, rejoinReport, startFailoverStack, verdicts, waitUntilNotStreaming, waitUntilPrimary } from './support';

/**
 * kill -9 of the primary's postmaster under a write load, asynchronous replication, fencing by
 * power-off: the health check fails over after exactly failureThreshold checks (grace 0), the lost
 * commits are counted and bounded, the old primary's VM is powered off; powered on again, it comes
 * back writable outside the pools and the health check fences it and rejoins it with pg_rewind.
 */
describe('failover after kill -9 of the primary (asynchronous replication, fence by power-off)', () => {
  const FAILURE_THRESHOLD = 2;
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('40.1', { policy: { fenceByPowerOff: true, health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  it('fails over within the configured checks, loses at most the bound, and rejoins the old primary when it is powered on', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    const healthy = await check(stack);
    expect(healthy.lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    expect(healthy.primary).toMatchObject({ name: 'pg1', lsn: expect.any(String) });
    await load.waitForCommits(50);
    const poolChangesBefore = stack.azure.record.poolChanges.length;

    await stack.lab.server('pg1').kill();
    await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    expect(verdicts(states)).toEqual(['primary-failing', 'primary-dead']);
    expect(states.at(-1)!).toMatchObject({ consecutiveFailures: FAILURE_THRESHOLD, lastAction: { kind: 'failover', ok: true } });

    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
    const promoted = report.newPrimary!;
    expect(['pg2', 'pg3']).toContain(promoted);
    expect(report.steps.map((s) => s.name)).toEqual([
      'claim cluster',
      'inspect cluster',
      'fence pg1: out of the pools',
      're-inspect',
      'power off pg1',
      're-inspect',
      'choose candidate',
      'promote candidate',
      'repoint load balancer',
      'resume application logins',
      `${promoted === 'pg2' ? 'pg3' : 'pg2'} follows ${promoted}`,
      'rejoin pg1',
      'verify topology',
    ]);
    // Pool mode asks the primary the deciding check could not reach for the whole probe timeout: a
    // slow one answers, and the failover is refused before anything (an ARM fence) is done.
    expect(states.at(-1)!.lastCheck?.action).toMatchObject({ unreachablePrimary: 'pg1' });
    expect(report.steps.find((s) => s.name === 'inspect cluster')!.detail).toMatchObject({ nodes: expect.arrayContaining([expect.stringMatching(/^pg1: unreachable \((?!asked briefly)/)]) });
    expect(report.problems).toEqual([
      'pg1 stays fenced out of the pools: its VM is stopped; the health check rejoins it when it returns',
      'pg1 is unreachable',
    ]);
    const choice = report.steps.find((s) => s.name === 'choose candidate')!.detail as { lossBytes: number; maxLagBytesForFailover: number; dataLossAccepted: boolean };
    expect(choice.lossBytes).toBeLessThanOrEqual(choice.maxLagBytesForFailover);
    expect(choice.dataLossAccepted).toBe(false);
    expect(stack.azure.control.powerState('pg1')).toBe('stopped');

    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`kill -9, async: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; WAL gap ${choice.lossBytes} bytes (bound ${choice.maxLagBytesForFailover}); write outage ${writes.writeOutageMs} ms (the checks are driven by the test); failover operation ${operationMs(report)} ms\n`);
    // S2 (docs/invariants.md): never two members in the write pool, and pg1 never back in it.
    for (const snapshot of stack.azure.record.poolChanges.slice(poolChangesBefore)) {
      expect((snapshot.pools['pg-write'] ?? []).length).toBeLessThanOrEqual(1);
      expect((snapshot.pools['pg-write'] ?? []).map((m) => m.ipAddress)).not.toContain(hostOf('pg1'));
    }

    // While its VM is off the health check only waits for it.
    const waiting = await check(stack);
    expect(waiting.lastCheck).toMatchObject({ action: null, findings: expect.arrayContaining(['pg1 (former primary) waits to be rejoined: its VM is stopped']) });

    // Powered on, pg1 starts as a primary (crash recovery) — outside the pools — and is fenced, then rejoined.
    stack.azure.control.setPowerState('pg1', 'running');
    await waitUntilPrimary(stack, 'pg1');
    const fenced = await check(stack);
    expect(fenced.lastCheck).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg1' } });
    expect(fenced.lastAction).toMatchObject({ kind: 'rejoin', node: 'pg1', ok: true });
    const rejoined = await rejoinReport(stack, 'pg1');
    expect(rejoined).toMatchObject({ outcome: 'rejoined', method: 'pg_rewind', primary: promoted });

    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([promoted]);
    expect(status.ilb.writePool).toEqual([promoted]);
    expect([...status.ilb.readPool].sort()).toEqual(['pg1', 'pg2', 'pg3'].filter((n) => n !== promoted));
    // Rewound, pg1 replays what it missed; until it has, the check reports its lag (degraded).
    const target = await inspect(stack, promoted);
    if (!target.reachable || !target.currentLsn) throw new Error(`${promoted} does not answer as the primary`);
    await waitFor(`pg1 to replay ${promoted}'s WAL up to ${target.currentLsn}`, async () => {
      const pg1 = await inspect(stack, 'pg1');
      return pg1.reachable && pg1.replayLsn !== null && isAtOrPast(pg1.replayLsn, target.currentLsn!);
    }, { timeoutMs: 60_000 });
    const settled = await check(stack);
    expect(settled.lastCheck).toMatchObject({ verdict: 'healthy', action: null, findings: [] });
    expect(settled.pendingRejoin).toEqual([]);
  });
});
