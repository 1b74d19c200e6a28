import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withClient } from '../../../src/adapters/postgres/connect';
import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { OperationReport } from '../../../src/domain/operation';
import { isAtOrPast } from '../../../src/domain/lsn';
import { waitFor } from '../../../harness/util/wait';
import { program } from '../../../cli/main';
import { HealthState, MonitorEvent, monitorInstanceId } from '../../../src/domain/health';
import { TEST_FUNCTION_KEY } from '../../support/stack';
import { EventType, type InstanceState } from '../../../harness/local/runtime';
import { api, check, checkUntil, inspect, operationStarted, sql, startFailoverStack, verdicts, waitForOperation, waitUntilNotStreaming } from './support';

/**
 * Operator control: maintenance mode suppresses the automatic failover of a dead primary (the
 * verdict is still reported), and a manual failover honours the loss bound (docs/invariants.md S7):
 * refused — and fully undone — when the standbys are further behind the last known primary position
 * than maxLagBytesForFailover, carried out with acceptDataLoss, losing exactly the commits the
 * standbys never received.
 */
describe('maintenance mode and manual failover with the loss bound', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('40.3', { policy: { health: { failureThreshold: 2, graceSeconds: 0, probeTimeoutMs: 1000 } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const cluster = () => stack.cluster.name;
  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  const keyFile = join(mkdtempSync(join(tmpdir(), 'pgfo-key-')), 'key');
  writeFileSync(keyFile, `${TEST_FUNCTION_KEY}\n`, { mode: 0o600 });

  /** Runs the pg-failover CLI against the stack and returns what it printed. */
  async function cli(args: string[]): Promise<string> {
    let out = '';
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    try {
      await program().parseAsync(['node', 'pg-failover', ...args, '--url', stack.origin!, '--key-file', keyFile]);
    } finally {
      write.mockRestore();
    }
    return out;
  }

  async function failover(body: Record<string, unknown>): Promise<OperationReport> {
    const started = await api(stack, 'POST', `clusters/${cluster()}/failover`, body);
    expect(started.status).toBe(202);
    expect(started.body.statusUrl).toMatch(new RegExp(`/api/clusters/${cluster()}/operations/${cluster()}-failover-`));
    return waitForOperation(stack, String(started.body.operationId));
  }

  it('validates the maintenance and failover requests', async () => {
    const bad = await api(stack, 'POST', `clusters/${cluster()}/maintenance`, { enabled: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ field: 'enabled', message: expect.stringMatching(/enabled must be true .* or false/) }]);
    expect((await api(stack, 'POST', `clusters/${cluster()}/maintenance`, {})).body.errors).toEqual([{ field: 'enabled', message: expect.any(String) }]);
    expect((await api(stack, 'POST', `clusters/${cluster()}/maintenance`, { enabled: true, force: 1 })).body.errors).toEqual([{ field: '(body)', message: 'unknown field(s) force; allowed fields: enabled, reason' }]);
    expect((await api(stack, 'POST', `clusters/${cluster()}/maintenance`, '{not json')).status).toBe(400);
    expect((await api(stack, 'POST', 'clusters/nope/maintenance', { enabled: true })).status).toBe(404);

    expect((await api(stack, 'POST', `clusters/${cluster()}/failover`, { acceptDataLoss: 'no' })).body.errors).toEqual([{ field: 'acceptDataLoss', message: 'acceptDataLoss must be true or false' }]);
    const unknownNode = await api(stack, 'POST', `clusters/${cluster()}/failover`, { target: 'pg9' });
    expect(unknownNode.status).toBe(404);
    expect(unknownNode.body.detail).toMatch(/no node "pg9"/);
    expect((await api(stack, 'POST', 'clusters/nope/failover', {})).status).toBe(404);
    expect((await api(stack, 'POST', `clusters/${cluster()}/failover`, {}, 'wrong-key')).status).toBe(401);
    expect(operationStarted(stack)).toBe(false);
  });

  it('in maintenance, reports a dead primary but does not fail over; a manual failover is refused beyond the bound, then done with acceptDataLoss', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');

    const on = await api(stack, 'POST', `clusters/${cluster()}/maintenance`, { enabled: true, reason: 'chaos test' });
    expect(on.status).toBe(200);
    expect(on.body.maintenance).toMatchObject({ enabled: true, changedBy: 'http', reason: 'chaos test' });
    expect((await api(stack, 'GET', `clusters/${cluster()}/health`)).body).toMatchObject({ maintenance: { enabled: true } });

    // The standbys (caught up) stop receiving WAL, then the primary writes well past the bound (1 MiB).
    const detachedAt = (await load.stop()).acknowledged.length;
    const primaryLsn = (await inspect(stack, 'pg1')) as { currentLsn: string };
    await waitFor('the standbys to catch up', async () => (await Promise.all(['pg2', 'pg3'].map((n) => inspect(stack, n)))).every((n) => n.reachable && !!n.receivedLsn && isAtOrPast(n.receivedLsn, primaryLsn.currentLsn)), { timeoutMs: 30_000 });
    for (const standby of ['pg2', 'pg3']) {
      await sql(stack, standby, "ALTER SYSTEM SET primary_conninfo = ''");
      await sql(stack, standby, 'SELECT pg_reload_conf()');
    }
    await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
    load.start();
    await withClient(stack.lab.appEndpoint('write'), (c) => c.query("CREATE TABLE pgfo_bulk AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g"));
    await load.waitForCommits(30);
    const lagging = await check(stack);
    expect(lagging.lastCheck).toMatchObject({ verdict: 'degraded', action: null });
    expect(lagging.lastCheck!.findings).toEqual([expect.stringMatching(/^pg2 does not stream from pg1/), expect.stringMatching(/^pg3 does not stream from pg1/)]);
    const lastKnown = lagging.primary!;

    await stack.lab.server('pg1').kill();
    const states = await checkUntil(stack, (s) => s.lastCheck?.verdict === 'primary-dead', 2);
    expect(verdicts(states)).toEqual(['primary-failing', 'primary-dead']);
    expect(states[1].lastCheck).toMatchObject({ action: null, suppressed: { action: { kind: 'failover' }, because: expect.stringMatching(/^maintenance mode is on \(set by http: chaos test\)/) } });
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'primary-dead', action: null });
    expect(operationStarted(stack)).toBe(false);

    // Without acceptDataLoss: refused, and the fence undone (nothing was promoted).
    const refused = await failover({});
    expect(refused).toMatchObject({ kind: 'failover', outcome: 'refused', oldPrimary: 'pg1' });
    expect(refused.reason).toMatch(new RegExp(`^pg[23] has received WAL up to \\S+, \\d+ bytes behind pg1 at the last healthy check \\(.*\\) \\(${lastKnown.lsn}\\), more than maxLagBytesForFailover \\(1048576\\).*acceptDataLoss: true`));
    expect(refused.steps.map((s) => [s.name, s.result])).toEqual([
      ['claim cluster', 'ok'],
      ['inspect cluster', 'ok'],
      ['fence pg1: out of the pools', 'ok'],
      ['re-inspect', 'ok'],
      ['undo: pg1 back into the write pool', 'ok'],
    ]);
    expect((await stack.lab.ilb().pools()).writePool).toEqual(['pg1']);
    for (const node of ['pg2', 'pg3']) expect(await inspect(stack, node)).toMatchObject({ reachable: true, role: 'standby' });

    // With acceptDataLoss (through the CLI): the best standby is promoted; the report says how much was given up.
    const printed = await cli(['failover', cluster(), '--accept-data-loss', '--reason', 'pg1 is gone for good']);
    expect(printed).toMatch(/failover \S+ started\n(?:.|\n)* {2}→ promote candidate\n(?:.|\n)*failover \S+: COMPLETED\nold primary: pg1 {3}new primary: pg[23] {3}rejoin: pg_rewind\nproblem: data loss accepted: /);
    const accepted = await waitForOperation(stack, /failover (\S+) started/.exec(printed)![1]);
    expect(accepted).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', rejoinMethod: 'pg_rewind' });
    expect(accepted.problems).toEqual([expect.stringMatching(new RegExp(`^data loss accepted: ${accepted.newPrimary} is \\d+ bytes behind pg1 at the last healthy check`))]);
    const choice = accepted.steps.find((s) => s.name === 'choose candidate')!.detail as { lossBytes: number; dataLossAccepted: boolean };
    expect(choice.dataLossAccepted).toBe(true);
    expect(choice.lossBytes).toBeGreaterThan(1024 * 1024);
    expect(accepted.steps[1].detail).toMatchObject({ reason: 'pg1 is gone for good' });

    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged);
    process.stdout.write(`manual failover with acceptDataLoss: ${lost.length} acknowledged commit(s) lost (WAL gap ${choice.lossBytes} bytes)\n`);
    // Exactly the commits pg1 acknowledged after the standbys stopped receiving are gone.
    expect(lost.length).toBeGreaterThan(0);
    expect(lost).toEqual(writes.acknowledged.slice(detachedAt).filter((c) => c.server === hostOf('pg1')).map((c) => c.id));

    // Maintenance off: the health check acts again, and finds the cluster converged.
    expect(await cli(['maintenance', cluster(), '--off'])).toMatch(/^cluster lab: maintenance OFF — automatic actions resumed \(\S+\)\n$/);
    expect((await api(stack, 'GET', `clusters/${cluster()}/health`)).body).toMatchObject({ maintenance: { enabled: false, changedBy: 'http' } });
    const status = await stack.lab.waitUntilHealthy();
    expect(status.ilb.writePool).toEqual([accepted.newPrimary]);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
  });

  it('keeps its state across executions of the monitor (continueAsNew every 100 events)', async () => {
    const monitorId = monitorInstanceId(cluster());
    const before = stack.runtime.getInstance(monitorId)!;
    const stateBefore = JSON.parse(before.customStatus!) as HealthState;
    const events: MonitorEvent[] = Array.from({ length: 101 }, (_, i) => ({ type: 'maintenance', enabled: i % 2 === 0, by: 'test', reason: `event ${i}`, requestId: `r${i}` }));
    for (const event of events) await stack.runtime.client.raiseEvent(monitorId, 'monitor', event);
    const after = await stack.runtime.waitForInstance(monitorId, { timeoutMs: 60_000, until: (i) => !!i?.customStatus && (JSON.parse(i.customStatus) as HealthState).lastRequestId === 'r100' });
    expect(after.executionId).not.toBe(before.executionId);
    expect(after.runtimeStatus).toBe('Running');
    const state = JSON.parse(after.customStatus!) as HealthState;
    expect(state).toMatchObject({ maintenance: { enabled: true, changedBy: 'test', reason: 'event 100' }, primary: stateBefore.primary, observations: stateBefore.observations });
    await api(stack, 'POST', `clusters/${cluster()}/maintenance`, { enabled: false });
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy' });
  });

  it('applies a maintenance request that arrives in the batch ending the monitor\'s execution (lost at continueAsNew, sent again)', async () => {
    const monitorId = monitorInstanceId(cluster());
    const raised = (i: InstanceState) => i.history.filter((e) => e.EventType === EventType.EventRaised).length;
    const settled = (i: InstanceState | undefined): i is InstanceState => {
      if (!i || i.runtimeStatus !== 'Running' || i.inbox.length > 0 || i.customStatus === null) return false;
      const done = new Set(i.history.map((e) => e.TaskScheduledId ?? e.TimerId).filter((id) => id !== undefined));
      return i.history.every((e) => (e.EventType !== EventType.TaskScheduled && e.EventType !== EventType.TimerCreated) || done.has(e.EventId));
    };
    await check(stack); // the monitor runs (also when this test runs alone)
    // Events the monitor ignores bring its execution to one event before its continueAsNew (every 100).
    const idle = await stack.runtime.waitForInstance(monitorId, { timeoutMs: 60_000, until: settled });
    for (let i = raised(idle); i < 99; i++) await stack.runtime.client.raiseEvent(monitorId, 'monitor', { type: 'filler' });
    const before = await stack.runtime.waitForInstance(monitorId, { timeoutMs: 60_000, until: (i) => settled(i) && i.executionId === idle.executionId && raised(i) === 99 });
    const executionBefore = (JSON.parse(before.customStatus!) as HealthState).execution;

    // The 100th event and the maintenance request reach the monitor in one batch: it takes the
    // first, continues as new, and the request goes with the old execution (as on Azure).
    const release = stack.runtime.holdEpisodes(monitorId);
    let answer: Promise<{ status: number; body: Record<string, unknown> }>;
    try {
      await stack.runtime.client.raiseEvent(monitorId, 'monitor', { type: 'filler' });
      answer = api(stack, 'POST', `clusters/${cluster()}/maintenance`, { enabled: true, reason: 'at the boundary' });
      await stack.runtime.waitForInstance(monitorId, { timeoutMs: 10_000, until: (i) => i?.inbox.length === 2 });
    } finally {
      release();
    }
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.body.maintenance).toMatchObject({ enabled: true, changedBy: 'http', reason: 'at the boundary' });
    const after = stack.runtime.getInstance(monitorId)!;
    expect(after.executionId).not.toBe(before.executionId);
    const state = JSON.parse(after.customStatus!) as HealthState;
    expect(state.execution).toBe(executionBefore + 1);
    expect(state).toMatchObject({ maintenance: { enabled: true, reason: 'at the boundary' }, primary: (JSON.parse(before.customStatus!) as HealthState).primary });

    expect((await api(stack, 'POST', `clusters/${cluster()}/maintenance`, { enabled: false })).status).toBe(200);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy' });
  });
});
