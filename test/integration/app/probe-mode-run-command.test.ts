import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { NodeAgents } from '../../../harness/lab/node-agents';
import { switchoverAndWait } from '../../support/operations';
import { automaticFailoverReport, check, checkUntil, expectOnlyTheOldPrimarysLastCommitsLost, rejoinReport, startFailoverStack, waitUntilNotStreaming, waitUntilPrimary, probedUpForWrites } from '../failover/support';

const FAILURE_THRESHOLD = 2;

/**
 * Probe mode without `nodeAgent` in the configuration (a cluster whose agents run no steps; the
 * Bicep sample's too, until its agents have enrolled): the agents answer the load balancer's
 * probes and keep the lease, and every node step runs through Run Command. A switchover under a write load loses nothing and writes no
 * pool; a kill -9 of the primary is failed over, the old primary's VM powered off first (there is
 * no agent to ask whether PostgreSQL still runs), and the VM started again rejoins as a standby.
 */
describe('probe mode without node steps on the agents', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('74.1', {
      loadBalancing: 'probe',
      agentSteps: false,
      policy: { fenceByPowerOff: true, health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 } },
    });
    await check(stack);
    await waitFor('the write rule to probe pg1 up', async () => probedUpForWrites(stack, 'pg1'), { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;
  /** The VM scripts run through Run Command since the `from`th: the script's name is in the text the catalogue builds. */
  const runCommandsSince = (from: number) => stack.azure.record.executions.slice(from).map((e) => ({ vm: e.vm, script: /# =+ (\S+)\.sh/.exec(e.scriptText)?.[1] }));
  const poolWrites = () => stack.azure.record.requests.filter((r) => r.method !== 'GET' && /networkInterfaces|backendAddressPools/i.test(r.url));

  it('has no node steps configured: the agents only answer probes', () => {
    expect(stack.cluster.nodeAgent).toBeUndefined();
    expect(stack.cluster.loadBalancer.membership).toBe('probe');
  });

  it('switches over under a write load through Run Command: no lost commit, the lease moves the writer, no pool write', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const runCommandsBefore = stack.azure.record.executions.length;
    const poolWritesBefore = poolWrites().length;

    const report = await switchoverAndWait(stack, { target: 'pg2' });

    await waitFor('the write rule to probe pg2 up', async () => probedUpForWrites(stack, 'pg2'), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2', problems: [] });
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    expect(writes.acknowledged.at(-1)!.server).toBe(hostOf('pg2'));
    expect(poolWrites().slice(poolWritesBefore)).toEqual([]);
    // The old primary's stop went through Run Command (no agent was asked).
    expect(runCommandsSince(runCommandsBefore)).toContainEqual({ vm: 'pg1', script: 'stop-clean' });
    await stack.lab.waitUntilHealthy();
  });

  it('fails over a kill -9 of the primary by powering its VM off (no agent to ask), the lease moves, the write rule follows; the VM started again comes back as a standby', async () => {
    await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === 'pg2', 5);
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);

    await stack.lab.server('pg2').kill();
    await waitUntilNotStreaming(stack, ['pg1', 'pg3']);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const report = await automaticFailoverReport(stack, states.at(-1)!);

    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg2' });
    const promoted = report.newPrimary!;
    const names = report.steps.map((s) => s.name);
    // Without node steps nothing on the node is asked first: S2 by power-off, then no lease to wait out.
    expect(names.slice(0, names.indexOf('promote candidate') + 1)).toEqual(['claim cluster', 'inspect cluster', 'fence pg2: out of the pools', 're-inspect', 'power off pg2', 're-inspect', 'choose candidate', 'promote candidate']);
    expect(report.steps.find((s) => s.name === 'power off pg2')).toMatchObject({ result: 'ok', detail: { powerState: 'stopped' } });
    await waitFor(`the write rule to probe ${promoted} up`, async () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    expect(poolWrites()).toEqual([]);
    // Its VM off, its agent is gone with it (nothing answers for it) until the VM starts again.
    const agents = new NodeAgents(stack.lab);
    expect(await agents.status('pg2', '/peer')).toBe(0);

    // Powered on, pg2 starts as a primary (crash recovery), its agent with it: fenced by its agent
    // (its lease predates the start), then by the health check, and rejoined.
    stack.azure.control.setPowerState('pg2', 'running');
    await waitUntilPrimary(stack, 'pg2');
    const fenced = await check(stack);
    expect(fenced.lastCheck).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg2' } });
    expect(await rejoinReport(stack, 'pg2')).toMatchObject({ outcome: 'rejoined', primary: promoted });
    await stack.lab.waitUntilHealthy();
    await check(stack);
    await waitFor("pg2's agent to answer /replica 200 again", async () => (await agents.status('pg2', '/replica')) === 200 || undefined, { timeoutMs: 30_000 });
  });
});
