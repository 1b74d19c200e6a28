import { withClient } from '../../../src/adapters/postgres/connect';
import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { HealthState, monitorInstanceId } from '../../../src/domain/health';
import { automaticFailoverReport, check, healthState, operationMs, splitAtNewPrimary, startFailoverStack, verdicts, waitUntilNotStreaming } from './support';

/**
 * Synchronous replication (synchronous_standby_names = 'ANY 1 (pg1, pg2, pg3)'): a commit is
 * acknowledged only once a standby has flushed it, and the failover promotes the standby with the
 * most WAL received, so a kill -9 of the primary under a write load loses nothing. The old
 * primary's VM still runs (no power-off fence), so the failover rejoins it itself: crash recovery,
 * then pg_rewind.
 */
describe('failover after kill -9 with synchronous replication', () => {
  const FAILURE_THRESHOLD = 3;
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('40.2', {
      synchronousStandbyNames: 'ANY 1 (pg1, pg2, pg3)',
      policy: { health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 } },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  it('loses no acknowledged commit and brings the old primary back as a standby', async () => {
    const setting = await withClient(stack.lab.adminEndpoint('pg1'), async (c) => (await c.query<{ s: string }>("SELECT current_setting('synchronous_standby_names') AS s")).rows[0].s);
    expect(setting).toBe('ANY 1 (pg1, pg2, pg3)');
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');
    await load.waitForCommits(50);

    await stack.lab.server('pg1').kill();
    await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
    const early: HealthState[] = [];
    for (let i = 1; i < FAILURE_THRESHOLD; i++) early.push(await check(stack));
    expect(verdicts(early)).toEqual(['primary-failing', 'primary-failing']);
    expect(early.at(-1)).toMatchObject({ consecutiveFailures: FAILURE_THRESHOLD - 1, lastCheck: { action: null } });
    // The decisive check runs three times at once (overlapping timer runs): the monitor takes the
    // observations one at a time, the first starts the failover, the other two began before that
    // action finished and are ignored as stale. One failover.
    const before = healthState(stack)!.observations;
    await Promise.all([1, 2, 3].map(() => stack.runtime.invokeTimer('healthCheck')));
    const instance = await stack.runtime.waitForInstance(monitorInstanceId(stack.cluster.name), {
      timeoutMs: 120_000,
      until: (i) => !!i?.customStatus && (JSON.parse(i.customStatus) as HealthState).observations >= before + 3,
    });
    const decided = JSON.parse(instance.customStatus!) as HealthState;
    expect(decided).toMatchObject({ staleObservations: 2, lastCheck: { verdict: 'primary-dead', action: { kind: 'failover' } }, lastAction: { kind: 'failover', ok: true } });
    expect(stack.runtime.listInstances().filter((i) => i.name === 'failover')).toHaveLength(1);

    const report = await automaticFailoverReport(stack, decided);
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', rejoinMethod: 'pg_rewind', problems: [] });
    const promoted = report.newPrimary!;

    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged);
    process.stdout.write(`kill -9, synchronous: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms (the checks are driven by the test); failover operation ${operationMs(report)} ms\n`);
    expect(lost).toEqual([]);
    const { after } = splitAtNewPrimary(writes.acknowledged, hostOf(promoted));
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((c) => c.server === hostOf(promoted))).toBe(true);

    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([promoted]);
    expect(new Set(status.nodes.map((n) => n.timeline)).size).toBe(1);
    expect(status.ilb.writePool).toEqual([promoted]);
    expect([...status.ilb.readPool].sort()).toEqual(['pg1', 'pg2', 'pg3'].filter((n) => n !== promoted));
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
  });
});
