import { request } from 'node:http';
import { LocalStack } from '../../../harness/local/stack';
import { WriteLoad } from '../../../harness/load/write-load';
import { NODE_AGENT_PORT } from '../../../harness/lab/node-agents';
import { waitFor } from '../../../harness/util/wait';
import type { OperationReport } from '../../../src/domain/operation';
import { automaticFailoverReport, check, checkUntil, expectOnlyTheOldPrimarysLastCommitsLost, startFailoverStack, verdicts, waitUntilNotStreaming, waitUntilPrimary } from './support';

const LEASE_TTL_SECONDS = 15;
const LEASE_WAIT_MARGIN_SECONDS = 2;
const NODES = ['pg1', 'pg2', 'pg3'];

/**
 * Probe mode (docs/design.md §9), kill -9 of the primary under a write load: the health check
 * fails over, the failover promotes only once every lease written before its claim has lapsed,
 * and the write lease moves by SQL alone; the old primary's agent, asked first, says no PostgreSQL
 * runs, so no ARM power-off, and the failover rejoins it at once. Started again within its lease
 * instead, the old primary calls the failover off.
 * All along, no two agents answer /primary 200 at the same look.
 */
describe('probe mode: failover after kill -9 of the primary waits out the old lease', () => {
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
  /** One probe as the load balancer sends it: a fresh connection, 200 or not. */
  const primaryProbe = (node: string) =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: hostOf(node), port: NODE_AGENT_PORT, path: '/primary', agent: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });

  /** The lab load balancer's own view: `node` alone is up for the write rule. */
  const probedUpForWrites = async (node: string) => {
    const probes = (await stack.lab.status()).ilb.probes!;
    return Object.entries(probes.write).filter(([, state]) => state.up).map(([name]) => name).join() === node;
  };

  /** Asks every agent's /primary, round after round, until stopped: the rounds where more than one said 200. */
  function watchWriters(): { stop: () => Promise<{ rounds: number; doubled: string[][] }> } {
    let running = true;
    let rounds = 0;
    const doubled: string[][] = [];
    const loop = (async () => {
      while (running) {
        const answers = await Promise.all(NODES.map(primaryProbe));
        const writers = NODES.filter((_, i) => answers[i]);
        if (writers.length > 1) doubled.push(writers);
        rounds += 1;
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return { rounds, doubled };
      },
    };
  }

  it('promotes only after the old lease lapsed, keeps one writer, and rejoins the old primary', async () => {
    // The first check grants the lease to pg1; the probes then send it the writes.
    await check(stack);
    await waitFor('the write rule to probe pg1 up', () => probedUpForWrites('pg1'), { timeoutMs: 30_000 });
    const watcher = watchWriters();
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);
    const lastRenewalLook = Date.now();
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
      "wait out pg1's write lease",
      're-inspect',
      'choose candidate',
      'promote candidate',
    ]);
    // The claim read the horizon of the last renewal (the last healthy check's, capped at its
    // look + ttl); the promotion began no earlier than that plus the margin (durable time).
    const waited = report.steps.find((s) => s.name === "wait out pg1's write lease")!.detail as { until: string; leaseHorizon: string };
    expect(Date.parse(waited.leaseHorizon)).toBeGreaterThanOrEqual(lastRenewalLook + LEASE_TTL_SECONDS * 1000);
    expect(Date.parse(waited.until)).toBe(Date.parse(waited.leaseHorizon) + LEASE_WAIT_MARGIN_SECONDS * 1000);
    const promotion = report.steps.find((s) => s.name === 'promote candidate')!;
    expect(Date.parse(promotion.startedAt)).toBeGreaterThanOrEqual(Date.parse(waited.until));

    await waitFor(`the write rule to probe ${promoted} up`, () => probedUpForWrites(promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe-mode kill -9: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);
    // No NIC or pool was written through ARM: the lease moved the writer.
    expect(stack.azure.record.requests.filter((r) => r.method !== 'GET' && /networkInterfaces|backendAddressPools/i.test(r.url))).toEqual([]);

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

  it('calls the failover off when the old primary, started again within its lease, answers again: never two writers', async () => {
    const old = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    await check(stack);
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(old), { timeoutMs: 30_000 });
    // The last renewal before the kill: the lease is valid for the ttl from here.
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    const watcher = watchWriters();
    await stack.lab.server(old).kill();
    const standbys = NODES.filter((n) => n !== old);
    await waitUntilNotStreaming(stack, standbys);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const operationId = states.at(-1)!.lastOperation!.operationId;

    // The bench's case: the old primary crashed, something starts it again at once.
    const progress = () => JSON.parse(stack.runtime.getInstance(operationId)?.customStatus ?? '{}') as Partial<OperationReport>;
    await waitFor(`the failover to wait out ${old}'s lease`, () => progress().currentStep === `wait out ${old}'s write lease`, { timeoutMs: 60_000, intervalMs: 50 });
    await stack.lab.server(old).start();
    await waitUntilPrimary(stack, old);

    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ outcome: 'refused', oldPrimary: old, reason: expect.stringContaining(`${old} answers again as a writable primary`) });
    expect(report.steps.map((s) => s.name)).not.toContain('promote candidate');
    // It holds the writes again: the health check finds it healthy (the standbys stream from it again).
    await stack.lab.waitUntilHealthy();
    const states2 = await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === old, 5);
    expect(states2.at(-1)!.lastCheck).toMatchObject({ verdict: 'healthy' });
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(old), { timeoutMs: 30_000 });

    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  });
});
