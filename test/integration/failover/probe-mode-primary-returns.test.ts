import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { unsilenceNode } from '../../../harness/lab/network-silence';
import { NodeAgents } from '../../../harness/lab/node-agents';
import { api } from '../../support/stack';
import { waitForOperation } from '../../support/operations';
import { check, checkUntil, probedUpForWrites, startFailoverStack, waitUntilNotStreaming, watchPrimaryProbes } from './support';

/** Long enough that the old primary is back well before the failover's wait for its lease ends. */
const LEASE_TTL_SECONDS = 30;
const FAILURE_THRESHOLD = 2;

/**
 * Probe mode: the primary's VM vanishes, the health check fails it over, and it comes back while
 * the failover waits out its lease. The look after the lease asks it only briefly
 * (src/domain/brief-ask.ts), as it was silent at the first look: back, it answers within that, as
 * a writable primary, and the automatic failover is called off — nothing promoted, nothing it
 * wrote lost, never two writers.
 */
describe('probe mode: a vanished primary that comes back while the failover waits out its lease', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('76.2', {
      loadBalancing: 'probe',
      policy: {
        fenceByPowerOff: false,
        leaseTtlSeconds: LEASE_TTL_SECONDS,
        leaseWaitMarginSeconds: 1,
        health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 3000 },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('is seen by the brief look after the lease: the automatic failover is called off, one writer, no commit lost', async () => {
    const old = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    const host = stack.cluster.nodes.find((n) => n.name === old)!.host;
    await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === old, 5);
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(stack, old), { timeoutMs: 30_000 });
    const watcher = watchPrimaryProbes(stack, stack.cluster.nodes.map((n) => n.name));
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);

    await stack.lab.vanish(old);
    const standbys = stack.cluster.nodes.map((n) => n.name).filter((n) => n !== old);
    await waitUntilNotStreaming(stack, standbys);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const operationId = states.at(-1)!.lastOperation!.operationId!;
    const waiting = `wait out ${old}'s write lease`;
    await waitFor(`the failover to wait out ${old}'s lease`, async () => {
      const { body } = await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`);
      if (body.outcome !== 'running') throw new Error(`the failover ended before it waited for the lease: ${JSON.stringify(body)}`);
      return body.currentStep === waiting || undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });

    // Back: its network, its server (crash recovery, as a primary) and its agent.
    unsilenceNode(host);
    await stack.lab.server(old).start();
    await new NodeAgents(stack.lab, { checkSeconds: 0.2 }).start(old);

    const report = await waitForOperation(stack, operationId);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'refused', reason: expect.stringMatching(new RegExp(`${old} answers again as a writable primary .*the automatic failover is called off`)) });
    expect(report.steps.map((s) => s.name)).toContain(waiting);
    expect(report.steps.map((s) => s.name)).not.toContain('promote candidate');
    // The look before the decision left it out; the one after the lease asked it briefly, and it answered.
    const looks = report.steps.filter((s) => s.name === 're-inspect');
    expect(looks[0].detail).toEqual(expect.arrayContaining([`${old}: not asked`]));
    expect(looks.at(-1)!.detail).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${old}: primary `))]));

    // It stays the primary: the standbys stream from it again and the health check renews its lease.
    await waitFor(`${old} to serve writes again`, async () => {
      const state = await check(stack);
      return (state.lastCheck?.verdict === 'healthy' && state.primary?.name === old && (await probedUpForWrites(stack, old))) || undefined;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(new Set(writes.acknowledged.map((c) => c.server))).toEqual(new Set([host]));
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  }, 300_000);
});
