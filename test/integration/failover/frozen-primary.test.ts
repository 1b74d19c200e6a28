import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { GRACE_JITTER_TOLERANCE_MS } from '../../../src/domain/health';
import { waitFor } from '../../../harness/util/wait';
import {
  api,
  automaticFailoverReport,
  check,
  checkUntil,
  freeze,
  inspect,
  operationStarted,
  splitAtNewPrimary,
  sql,
  startFailoverStack,
  verdicts,
  waitForOperation,
  waitUntilNotStreaming,
} from './support';

/**
 * A primary that hangs (SIGSTOP of its postmaster and every backend): for less than the grace
 * period it is not failed over (docs/invariants.md S6); for longer it is, and when it resumes
 * (SIGCONT) it is a writable primary outside the pools — fenced from the failover's first step, so
 * the application never writes to it through the write frontend — until the health check stops it
 * and rejoins it with pg_rewind.
 *
 * The standbys notice a frozen primary through wal_receiver_timeout (2 s here; 60 s by default):
 * until then their WAL receivers still say "streaming" and the health check holds back (S6).
 * graceSeconds (7) exceeds the write load's own statement timeout (6 s): by the time a standby is
 * promoted, the client has given up on any statement the frozen primary still holds, so nothing
 * it finishes on resuming can be acknowledged (see the report for production).
 */
describe('a frozen primary', () => {
  const GRACE_SECONDS = 7;
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('40.4', { policy: { health: { failureThreshold: 2, graceSeconds: GRACE_SECONDS, probeTimeoutMs: 500 } } });
    for (const node of ['pg1', 'pg2', 'pg3']) {
      await sql(stack, node, "ALTER SYSTEM SET wal_receiver_timeout = '2s'");
      await sql(stack, node, 'SELECT pg_reload_conf()');
    }
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  it('frozen for less than the grace period: no failover', async () => {
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');
    const thaw = freeze(stack, 'pg1');
    try {
      await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
      // failureThreshold checks in a row, well inside the grace period.
      const states = [await check(stack), await check(stack)];
      expect(verdicts(states)).toEqual(['primary-failing', 'primary-failing']);
      const last = states[1];
      expect(last.consecutiveFailures).toBe(2);
      expect(Date.parse(last.lastCheck!.at) - Date.parse(last.failingSince!)).toBeLessThan(GRACE_SECONDS * 1000);
      expect(last.lastCheck!.summary).toMatch(/failover after [\d.]+ s more of grace$/);
    } finally {
      thaw();
    }
    const resumed = await check(stack);
    expect(['healthy', 'degraded']).toContain(resumed.lastCheck?.verdict);
    expect(resumed).toMatchObject({ consecutiveFailures: 0, failingSince: null });
    expect(operationStarted(stack)).toBe(false);
    await stack.lab.waitUntilHealthy();
  });

  it('frozen for longer: fenced, but not promoted past it while it may still run (S2); failed over once it no longer runs', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');
    const poolChangesBefore = stack.azure.record.poolChanges.length;

    const thaw = freeze(stack, 'pg1');
    try {
      await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
      const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', 60);
      const decided = states.at(-1)!;
      expect(verdicts(states.slice(0, -1)).every((v) => v === 'primary-failing')).toBe(true);
      expect(decided.lastCheck?.verdict).toBe('primary-dead');
      // S6: not before the grace period had passed since the first failed check.
      expect(Date.parse(decided.lastCheck!.at) - Date.parse(decided.failingSince!)).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000 - GRACE_JITTER_TOLERANCE_MS);

      // Without fenceByPowerOff a frozen primary cannot be stopped: refused, the fence undone, nothing promoted.
      const refused = await automaticFailoverReport(stack, decided);
      expect(refused).toMatchObject({ outcome: 'refused', oldPrimary: 'pg1' });
      expect(refused.reason).toMatch(/^pg1 may still be running and could not be stopped: PostgreSQL runs on its VM and did not stop within .*two writable primaries \(S2\)/);
      expect(refused.steps.map((s) => s.name)).toEqual(['claim cluster', 'inspect cluster', 'fence pg1: out of the pools', 're-inspect', 'make sure pg1 is stopped', 'undo: pg1 back into the write pool']);
      for (const node of ['pg2', 'pg3']) expect(await inspect(stack, node)).toMatchObject({ reachable: true, role: 'standby' });
    } finally {
      thaw();
    }
    // The fast shutdown asked for while it was frozen takes effect when it resumes.
    await waitFor('pg1 to shut down', async () => !(await inspect(stack, 'pg1')).reachable, { timeoutMs: 60_000, intervalMs: 100 });
    // The same outage: the health check does not try again; the operator fails over, and a server that no longer runs counts as stopped.
    const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/failover`, { reason: 'pg1 was frozen' });
    expect(started.status).toBe(202);
    const report = await waitForOperation(stack, String(started.body.operationId));
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1' });
    const promoted = report.newPrimary!;
    expect(report.steps.find((s) => s.name === 'make sure pg1 is stopped')).toMatchObject({ result: 'ok', detail: { stopped: true, how: expect.stringMatching(/^no PostgreSQL runs on its VM/) } });
    const choice = report.steps.find((step) => step.name === 'choose candidate')!.detail as { lossBytes: number; maxLagBytesForFailover: number };
    await load.waitForCommits(30);

    const writes = await load.stop();
    const { after } = splitAtNewPrimary(writes.acknowledged, hostOf(promoted));
    // S2: once the new primary took a commit, no acknowledged commit came from anywhere else.
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((c) => c.server !== hostOf(promoted))).toEqual([]);
    for (const snapshot of stack.azure.record.poolChanges.slice(poolChangesBefore)) {
      expect((snapshot.pools['pg-write'] ?? []).length).toBeLessThanOrEqual(1);
    }
    const lost = await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged);
    expect(choice.lossBytes).toBeLessThanOrEqual(choice.maxLagBytesForFailover);
    process.stdout.write(`frozen primary: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; WAL gap ${choice.lossBytes} bytes; write outage ${writes.writeOutageMs} ms\n`);

    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([promoted]);
    expect(status.ilb.writePool).toEqual([promoted]);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
  });
});
