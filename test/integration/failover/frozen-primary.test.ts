import { LocalStack } from '../../../src/local/stack';
import { findLostCommits, WriteLoad } from '../../../src/load/write-load';
import { withClient } from '../../../src/adapters/postgres/connect';
import {
  automaticFailoverReport,
  check,
  checkUntil,
  freeze,
  operationStarted,
  rejoinReport,
  splitAtNewPrimary,
  sql,
  startFailoverStack,
  verdicts,
  waitUntilNotStreaming,
} from './support';

/**
 * A primary that hangs (SIGSTOP of its postmaster and every backend): for less than the grace
 * period it is not failed over (S6); for longer it is, and when it resumes (SIGCONT) it is a
 * writable primary outside the pools — fenced from the failover's first step, so the application
 * never writes to it through the write frontend — until the health check stops it and rejoins it
 * with pg_rewind.
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

  it('frozen for longer: failed over, fenced while frozen, stopped and rejoined with pg_rewind when it resumes', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');
    const poolChangesBefore = stack.azure.record.poolChanges.length;

    const thaw = freeze(stack, 'pg1');
    let promoted: string;
    let choice: { lossBytes: number; maxLagBytesForFailover: number };
    try {
      await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
      const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', 60);
      const decided = states.at(-1)!;
      expect(verdicts(states.slice(0, -1)).every((v) => v === 'primary-failing')).toBe(true);
      expect(decided.lastCheck?.verdict).toBe('primary-dead');
      // S6: not before the grace period had passed since the first failed check.
      expect(Date.parse(decided.lastCheck!.at) - Date.parse(decided.failingSince!)).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000);

      const report = await automaticFailoverReport(stack, decided);
      expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1' });
      promoted = report.newPrimary!;
      choice = report.steps.find((step) => step.name === 'choose candidate')!.detail as typeof choice;
      expect(report.problems).toContain('pg1 stays fenced out of the pools: PostgreSQL runs on it but does not answer (frozen or cut off); the health check rejoins it when it returns');
      await load.waitForCommits(30);
    } finally {
      thaw();
    }

    // Resumed: a writable primary, but outside the pools — the write frontend reaches only the new primary.
    const through = await withClient(stack.lab.appEndpoint('write'), async (c) => (await c.query<{ server: string }>('SELECT host(inet_server_addr()) AS server')).rows[0].server);
    expect(through).toBe(hostOf(promoted));
    const fenced = await checkUntil(stack, (s) => s.lastAction?.kind === 'rejoin' && s.lastAction.node === 'pg1', 3);
    expect(fenced.some((s) => s.lastCheck?.action?.kind === 'fence' && s.lastCheck.action.node === 'pg1')).toBe(true);
    const rejoined = await rejoinReport(stack, 'pg1');
    expect(rejoined).toMatchObject({ outcome: 'rejoined', method: 'pg_rewind', primary: promoted });

    await load.waitForCommits(30);
    const writes = await load.stop();
    const { after } = splitAtNewPrimary(writes.acknowledged, hostOf(promoted));
    // S2: once the new primary took a commit, no acknowledged commit came from anywhere else.
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((c) => c.server !== hostOf(promoted))).toEqual([]);
    for (const snapshot of stack.azure.record.poolChanges.slice(poolChangesBefore)) {
      expect((snapshot.pools['pg-write'] ?? []).length).toBeLessThanOrEqual(1);
      expect((snapshot.pools['pg-write'] ?? []).map((m) => m.ipAddress)).not.toContain(hostOf('pg1'));
    }
    // Asynchronous replication: only the last commits pg1 acknowledged before it froze can be missing, within the bound.
    const lost = await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged);
    const { before } = splitAtNewPrimary(writes.acknowledged, hostOf(promoted));
    expect(lost).toEqual(before.slice(before.length - lost.length).map((c) => c.id));
    expect(choice.lossBytes).toBeLessThanOrEqual(choice.maxLagBytesForFailover);
    process.stdout.write(`frozen primary: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; WAL gap ${choice.lossBytes} bytes; write outage ${writes.writeOutageMs} ms\n`);

    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([promoted]);
    expect(status.ilb.writePool).toEqual([promoted]);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
  });
});
