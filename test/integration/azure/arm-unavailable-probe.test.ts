import type { ArmUnavailableMode } from '../../../harness/local/azure-emulator';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { LocalStack } from '../../../harness/local/stack';
import { waitFor } from '../../../harness/util/wait';
import { AZURE_SETTING_NAMES } from '../../../src/adapters/azure';
import type { OperationReport } from '../../../src/domain/operation';
import { switchoverAndWait } from '../../support/operations';
import { NodeAgents } from '../../../harness/lab/node-agents';
import { api, automaticFailoverReport, check, checkUntil, editHba, expectOnlyTheOldPrimarysLastCommitsLost, startFailoverStack, waitForOperation, waitUntilNotStreaming, probedUpForWrites } from '../failover/support';

const ARM_REQUEST_TIMEOUT_MS = 5000;
const FAILURE_THRESHOLD = 2;

/**
 * ARM unavailable in probe mode with node steps on the agents (issue 14, "ARM unavailable"): the
 * writer is picked by the load balancer's probes and the lease, and the node steps run on the
 * agents, so neither a planned switchover nor the failover of a crashed primary needs the
 * control plane. ARM answers nothing useful for the whole file ('503' for the switchover, no
 * answer for the failover), and both complete; the switchover loses nothing.
 */
describe('probe mode with node agents while ARM is unavailable', () => {
  let stack: LocalStack;
  const setting = AZURE_SETTING_NAMES.armRequestTimeoutMs;
  const before = process.env[setting];

  beforeAll(async () => {
    process.env[setting] = String(ARM_REQUEST_TIMEOUT_MS);
    stack = await startFailoverStack('73.1', {
      loadBalancing: 'probe',
      policy: { fenceByPowerOff: true, leaseTtlSeconds: 10, leaseWaitMarginSeconds: 1, health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 } },
    });
    await check(stack);
    await waitFor('the write rule to probe pg1 up', async () => probedUpForWrites(stack, 'pg1'), { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    stack?.azure.control.makeArmAvailable();
    await stack?.stop();
    if (before === undefined) delete process.env[setting];
    else process.env[setting] = before;
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;
  const armRequests = () => stack.azure.record.requests.filter((r) => r.url.startsWith('/subscriptions/'));

  /** Health checks one after another, as the timer fires them, until stopped. */
  function keepChecking(): { stop: () => Promise<void> } {
    let running = true;
    const loop = (async () => {
      while (running) await check(stack);
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
      },
    };
  }

  function makeArmUnavailable(mode: ArmUnavailableMode): number {
    const seen = armRequests().length;
    stack.azure.control.makeArmUnavailable(mode, { retryAfterSeconds: 1 });
    return seen;
  }

  it("ARM '503': a planned switchover under a write load completes, no acknowledged commit lost, no ARM request answered", async () => {
    const seen = makeArmUnavailable('503');
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);

    // The health check keeps running on its schedule meanwhile: it renews the lease the switchover hands over.
    const checks = keepChecking();
    const report = await switchoverAndWait(stack, { target: 'pg2' });
    await checks.stop();
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2', problems: [] });
    expect(report.steps.find((s) => s.name === 'rejoin pg1')).toMatchObject({ result: 'ok' });

    await waitFor('the write rule to probe pg2 up', async () => probedUpForWrites(stack, 'pg2'), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    expect(writes.acknowledged.at(-1)!.server).toBe(hostOf('pg2'));
    // Whatever the app asked ARM meanwhile was refused: it needed none of it.
    expect(armRequests().slice(seen).every((r) => r.status === 503)).toBe(true);
    stack.azure.control.makeArmAvailable();
    await stack.lab.waitUntilHealthy();
  });

  it('ARM not answering: kill -9 of the primary is failed over, its agent asked instead of a power-off', async () => {
    await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === 'pg2', 5);
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const seen = makeArmUnavailable('timeout');

    await stack.lab.server('pg2').kill();
    await waitUntilNotStreaming(stack, ['pg1', 'pg3']);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    // The timer goes on firing: the checks renew the new primary's lease once the failover hands it over.
    const checks = keepChecking();
    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg2' });
    const promoted = report.newPrimary!;
    const names = report.steps.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['make sure pg2 is stopped', 'promote candidate']));
    // Its agent saw no PostgreSQL run: neither a power-off nor a wait for its lease.
    expect(report.steps.find((s) => s.name === 'make sure pg2 is stopped')!.detail).toMatchObject({ stopped: true, nodeAnswered: true });
    expect(names.filter((n) => /power off|wait out/.test(n))).toEqual([]);
    // Its agent also told the rejoin that its VM runs without a postmaster: rejoined at once.
    expect(report.rejoinMethod).toEqual(expect.any(String));

    await waitFor(`the write rule to probe ${promoted} up`, async () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    await checks.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe mode, ARM unavailable, kill -9: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);
    // Nothing ARM answered: every request the app made was left hanging until it gave up.
    expect(armRequests().slice(seen).every((r) => r.status === 0)).toBe(true);
  });

  /** The one primary once the health checks find the cluster healthy (ARM answering again). */
  async function healthyPrimary(): Promise<string> {
    stack.azure.control.makeArmAvailable();
    const primary = await waitFor('the health check to find the cluster healthy', async () => {
      const state = await check(stack);
      return state.lastCheck?.verdict === 'healthy' ? state.primary?.name : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000 });
    await waitFor(`the write rule to probe ${primary} up`, async () => probedUpForWrites(stack, primary), { timeoutMs: 30_000 });
    return primary;
  }

  it('ARM not answering, the app cut off from the primary and its agent gone while its standbys stream from it: a manual failover waits its lease out, sees them streaming from it, and refuses; nothing promoted (S2)', async () => {
    const old = await healthyPrimary();
    const standbys = stack.cluster.nodes.map((n) => n.name).filter((n) => n !== old);
    // Nothing can ask or stop it: its agent is down, Run Command and the power-off need ARM. Its
    // lease lapses with no agent to fence it: while its standbys stream from it, it takes writes.
    const agents = new NodeAgents(stack.lab, { checkSeconds: 0.2 });
    await agents.stop(old);
    const admin = stack.cluster.postgres.adminUser;
    const restore = editHba(stack, old, (rules) => `host all ${admin} 0.0.0.0/0 reject\n${rules}`);
    const seen = makeArmUnavailable('timeout');
    let report: OperationReport | undefined;
    try {
      const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/failover`, { reason: `${old} cut off from the app` });
      expect(started.status).toBe(202);
      report = await waitForOperation(stack, String(started.body.operationId));
    } finally {
      restore();
    }
    try {
      // Still the one writer, its standbys streaming from it: no node was promoted.
      const status = await stack.lab.status();
      expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([old]);
      expect(status.nodes.filter((n) => standbys.includes(n.name)).map((n) => [n.role, n.streaming])).toEqual([['standby', true], ['standby', true]]);
    } finally {
      await agents.start(old);
    }
    expect(report).toMatchObject({ kind: 'failover', outcome: 'refused', oldPrimary: old });
    expect(report!.reason).toMatch(new RegExp(`still stream from ${old}: it may be alive, and writable if its agent is gone, though the app cannot reach it \\(S2, S6\\); stop PostgreSQL on ${old} .*; ${old}'s power-off (is still under way|failed)`));
    const names = report!.steps.map((s) => s.name);
    expect(names.slice(names.indexOf(`make sure ${old} is stopped`))).toEqual([`make sure ${old} is stopped`, `power off ${old} or wait out its write lease, whichever ends first`, 're-inspect']);
    expect(report!.steps.find((s) => s.name === `power off ${old} or wait out its write lease, whichever ends first`)!.detail).toMatchObject({ fencedBy: 'lease', powerOff: 'still under way' });
    // The power-off's attempts end unanswered (nothing ARM held through the outage is carried out afterwards): the VM still runs.
    await waitFor('ARM to hold none of the power-off attempts', () => stack.azure.control.hangingArmRequests() === 0, { timeoutMs: 60_000 });
    expect(armRequests().slice(seen).every((r) => r.status === 0)).toBe(true);
    expect(stack.azure.control.powerState(old)).toBe('running');
    // Its agent back and the app reaching it, the health check renews its lease: writable through the load balancer again.
    expect(await healthyPrimary()).toBe(old);
  }, 240_000);

  it("ARM not answering and the primary's VM gone (silent: its agent and PostgreSQL dead, no connection closed): the power-off cannot succeed, so the failover promotes once its lease lapsed", async () => {
    const old = await healthyPrimary();
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const seen = makeArmUnavailable('timeout');

    // Silent, as a VM whose host failed: its standbys notice only by wal_receiver_timeout.
    await stack.lab.vanish(old);
    const standbys = stack.cluster.nodes.map((n) => n.name).filter((n) => n !== old);
    await waitUntilNotStreaming(stack, standbys);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const checks = keepChecking();
    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: old });
    const promoted = report.newPrimary!;
    const step = (name: string) => report.steps.find((s) => s.name === name)!;
    expect(step(`make sure ${old} is stopped`).detail).toMatchObject({ stopped: false, nodeAnswered: false });
    // The power-off and the lease race; ARM answering nothing, the lease ends first (the power-off
    // still hangs on its timeouts, or failed): promoted only past the horizon of every lease written
    // before the claim, plus the margin.
    const fence = step(`power off ${old} or wait out its write lease, whichever ends first`);
    const { leaseHorizon } = step('claim cluster').detail as { leaseHorizon: string };
    const lapsed = Date.parse(leaseHorizon) + 1000;
    expect(fence).toMatchObject({ result: 'ok', detail: { fencedBy: 'lease', leaseLapsedAt: new Date(lapsed).toISOString(), powerOff: expect.stringMatching(/^(still under way|failed: )/) } });
    expect(Date.parse(fence.startedAt) + fence.durationMs!).toBeGreaterThanOrEqual(lapsed);
    expect(Date.parse(step('promote candidate').startedAt)).toBeGreaterThanOrEqual(lapsed);

    await waitFor(`the write rule to probe ${promoted} up`, async () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    await checks.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe mode, ARM unavailable, VM gone: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);
    expect(armRequests().slice(seen).every((r) => r.status === 0)).toBe(true);
  }, 240_000);
});
