import { LocalStack } from '../../../harness/local/stack';
import { WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { withClient } from '../../../src/adapters/postgres/connect';
import { automaticFailoverReport, check, checkUntil, expectOnlyTheOldPrimarysLastCommitsLost, rejoinReport, startFailoverStack, verdicts, waitUntilNotStreaming, waitUntilPrimary, primaryProbe, probedUpForWrites, watchPrimaryProbes } from './support';

const LEASE_TTL_SECONDS = 15;
const LEASE_WAIT_MARGIN_SECONDS = 2;
const NODES = ['pg1', 'pg2', 'pg3'];

/**
 * Probe mode (docs/design.md §9), kill -9 of the primary under a write load: the health check
 * fails over and the write lease moves by SQL alone; the old primary's agent, asked first, says no
 * PostgreSQL runs, so no ARM power-off and no wait for its lease (started again, it would not
 * serve a lease written before that start), and the failover rejoins it at once. Started again
 * right after its crash instead, the old primary is fenced by its agent until the health check
 * writes its lease again: no failover, and it serves writes again. The primary's VM vanishing
 * (silent, ARM still calling it running) is failed over by power-off, no Run Command tried.
 * All along, no two agents answer /primary 200 at the same look.
 */
describe('probe mode: failover after kill -9 of the primary', () => {
  const FAILURE_THRESHOLD = 2;
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('71.1', {
      loadBalancing: 'probe',
      policy: {
        fenceByPowerOff: true,
        leaseTtlSeconds: LEASE_TTL_SECONDS,
        leaseWaitMarginSeconds: LEASE_WAIT_MARGIN_SECONDS,
        health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;
  const watchWriters = () => watchPrimaryProbes(stack, NODES);

  it('promotes without waiting out the lease of an old primary its agent saw stopped, keeps one writer, and rejoins it', async () => {
    // The first check grants the lease to pg1; the probes then send it the writes.
    await check(stack);
    await waitFor('the write rule to probe pg1 up', () => probedUpForWrites(stack, 'pg1'), { timeoutMs: 30_000 });
    const watcher = watchWriters();
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    await load.waitForCommits(20);

    await stack.lab.server('pg1').kill();
    await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    expect(verdicts(states)).toEqual(['primary-failing', 'primary-dead']);

    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
    const promoted = report.newPrimary!;
    const names = report.steps.map((s) => s.name);
    expect(names.slice(0, names.indexOf('promote candidate') + 1)).toEqual([
      'claim cluster',
      'inspect cluster',
      'fence pg1: out of the pools',
      're-inspect',
      'make sure pg1 is stopped',
      'choose candidate',
      'promote candidate',
    ]);

    await waitFor(`the write rule to probe ${promoted} up`, () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe-mode kill -9: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);
    // No NIC or pool was written through ARM: the lease moved the writer.
    expect(stack.azure.record.requests.filter((r) => r.method !== 'GET' && /networkInterfaces|backendAddressPools/i.test(r.url))).toEqual([]);

    // It did not answer the failover's first look: not tried again, left to the steps after it.
    expect(report.steps.find((s) => s.name === 'fence pg1: out of the pools')!.detail).toEqual({ tried: false, why: 'pg1 did not answer', leftTo: 'the steps that make sure it takes no write before the promotion' });
    // Its agent told the failover that no PostgreSQL ran: no ARM call, the VM was left running.
    expect(report.steps.find((s) => s.name === 'make sure pg1 is stopped')!.detail).toMatchObject({ stopped: true, how: expect.stringMatching(/^no PostgreSQL runs on its VM/) });
    expect(stack.azure.record.powerChanges).toEqual([]);

    // Its VM running without a postmaster, the failover rejoined it at once (on its agent).
    expect(report.steps.find((s) => s.name === 'rejoin pg1')).toMatchObject({ result: 'ok' });
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.find((n) => n.name === 'pg1')).toMatchObject({ role: 'standby' });
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });

    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  });

  it('the old primary started again right after its crash: fenced (its lease predates the start) until the health check writes the lease again; no failover, never two writers', async () => {
    const old = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    await check(stack);
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(stack, old), { timeoutMs: 30_000 });
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    const watcher = watchWriters();
    // What a service manager restarting a crashed server does, before any health check saw it down.
    await stack.lab.server(old).kill();
    await stack.lab.server(old).start();
    await waitUntilPrimary(stack, old);
    // Its agent fences it: new sessions read-only, /primary 503 though the lease names it for longer.
    const direct = { ...stack.lab.appEndpoint('write'), host: hostOf(old), port: stack.cluster.nodes.find((n) => n.name === old)!.port };
    const readOnly = () => withClient(direct, async (client) => (await client.query<{ default_transaction_read_only: string }>('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only === 'on');
    await waitFor(`${old}'s agent to fence it`, readOnly, { timeoutMs: 30_000, intervalMs: 50 });
    expect(await primaryProbe(hostOf(old))).toBe(false);

    // The standbys stream from it again: healthy, the health check renews its lease, served again.
    await stack.lab.waitUntilHealthy();
    const states = await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === old, 5);
    expect(states.every((s) => s.lastCheck?.action?.kind !== 'failover')).toBe(true);
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(stack, old), { timeoutMs: 30_000 });

    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  });

  it("the primary's VM vanishes (its host failed; ARM still calls it running): nothing answers its agent, so no Run Command is tried; the failover powers it off, keeps one writer, and the VM started again rejoins", async () => {
    const old = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === old, 5);
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(stack, old), { timeoutMs: 30_000 });
    const watcher = watchWriters();
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const runCommandsBefore = stack.azure.record.executions.length;
    const powerChangesBefore = stack.azure.record.powerChanges.length;

    await stack.lab.vanish(old);
    const standbys = NODES.filter((n) => n !== old);
    // Silent: the standbys learn only by wal_receiver_timeout (5 s), not from a closed connection.
    await waitUntilNotStreaming(stack, standbys);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: old });
    const promoted = report.newPrimary!;
    const step = (name: string) => report.steps.find((s) => s.name === name)!;
    // The deciding check could not reach it: the first look asks it (and its agent) only briefly.
    expect(step('inspect cluster').detail).toMatchObject({ nodes: expect.arrayContaining([expect.stringMatching(new RegExp(`^${old}: unreachable \\(asked briefly \\(1000 ms: silent when last asked\\)`))]) });
    expect(step(`make sure ${old} is stopped`).detail).toMatchObject({ stopped: false, nodeAnswered: false, how: expect.stringMatching(/^its VM runs as ARM sees it, but nothing answers on it \(its agent did not answer the app's probes at the failover's look just before\)/) });
    // ARM powers it off at once here (zero latency), well before its lease lapses: the power-off wins the race.
    const fence = step(`power off ${old} or wait out its write lease, whichever ends first`);
    expect(fence).toMatchObject({ result: 'ok', detail: { fencedBy: 'power-off', powerState: 'stopped' } });
    expect(Date.parse(step('promote candidate').startedAt)).toBeGreaterThanOrEqual(Date.parse(fence.startedAt) + fence.durationMs!);
    // Silent at the first look, it is not asked again before the power-off (nothing was done since),
    // nor after it.
    const looks = report.steps.filter((s) => s.name === 're-inspect');
    expect(looks).toHaveLength(2);
    expect(looks.map((l) => l.detail)).toEqual([expect.arrayContaining([`${old}: not asked`]), expect.arrayContaining([`${old}: not asked`])]);
    // No Run Command was sent to the vanished VM (none would have been taken up).
    expect(stack.azure.record.executions.slice(runCommandsBefore).filter((e) => e.vm === old)).toEqual([]);
    const powerChanges = stack.azure.record.powerChanges.slice(powerChangesBefore);
    expect(new Set(powerChanges.map((c) => c.vm))).toEqual(new Set([old]));
    expect(powerChanges.at(-1)).toEqual({ vm: old, state: 'stopped' });

    await waitFor(`the write rule to probe ${promoted} up`, () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe-mode VM vanished: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);

    // Started again (the power-on lifts its silence), it comes back as a standby of the new primary.
    stack.azure.control.setPowerState(old, 'running');
    await waitUntilPrimary(stack, old);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: old } });
    expect(await rejoinReport(stack, old)).toMatchObject({ outcome: 'rejoined', primary: promoted });
    await stack.lab.waitUntilHealthy();
    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  }, 300_000);
});
