import { rmSync } from 'node:fs';
import { EventType } from '../../../harness/local/runtime/durable/history-events';
import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import type { ReachableNode } from '../../../src/domain/node-state';
import type { OperationReport } from '../../../src/domain/operation';
import { api, startTestStack } from '../../support/stack';
import { waitForOperation } from '../../support/operations';

/**
 * Recovery (docs/invariants.md S1, S4, S8, S9): the Functions host dies in the middle of a
 * switchover — at each step in turn — and comes back on the same state. The step in flight is
 * abandoned (whatever it did on the VMs stays; its result is lost) and the operation resumes
 * from its history: it finishes, with every acknowledged commit on the new primary and the
 * cluster converged, whichever step the host died in.
 */
describe('a switchover survives a restart of the Functions host at every step', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('20.8');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const nodes = ['pg1', 'pg2', 'pg3'];
  const steps = ['claim cluster', 'inspect cluster', 'drain primary', 'stop primary', 'wait for candidate', 'promote candidate', 'resume application logins', 'repoint load balancer', 'follows', 'rejoin', 'into read pool', 'verify topology'];
  const stepOf = (customStatus: string | null) => (customStatus ? ((JSON.parse(customStatus) as Partial<OperationReport>).currentStep ?? '') : '');

  it.each(steps.map((step, index) => [step, nodes[index % 3], nodes[(index + 1) % 3]]))('restarted during "%s" (%s → %s)', async (step, oldPrimary, target) => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);

    // The early steps run while the HTTP start still waits for the claim: the host dies under the
    // request too, whose answer is then lost, as it would be on Azure.
    const inStep = stack.runtime.waitForAnyInstance({ timeoutMs: 120_000, until: (state) => state.name === 'switchover' && state.runtimeStatus === 'Running' && stepOf(state.customStatus).includes(step) });
    const started = api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, { target }).catch(() => undefined);
    const operationId = (await inStep).instanceId;
    await stack.restartRuntime();
    const answer = await started;
    if (answer) expect(answer).toMatchObject({ status: 202, body: { operationId } });

    const report = await waitForOperation(stack, operationId);
    await load.waitForCommits(30);
    const writes = await load.stop();

    expect(report).toMatchObject({ outcome: 'completed', oldPrimary, newPrimary: target, problems: [] });
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([target]);
    expect(new Set(status.nodes.map((n) => n.timeline)).size).toBe(1);
    expect(status.ilb.writePool).toEqual([target]);
    expect([...status.ilb.readPool].sort()).toEqual(nodes.filter((n) => n !== target));
  });

  // Last: it leaves the lab with a foreign primary.
  it('resumed against a primary rebuilt meanwhile (another system identifier), it refuses to act on it', async () => {
    const before = await stack.lab.waitUntilHealthy();
    const primary = before.nodes.find((n) => n.role === 'primary')!.name;
    const inspecting = stack.runtime.waitForAnyInstance({ timeoutMs: 120_000, until: (state) => state.name === 'switchover' && state.runtimeStatus === 'Running' && stepOf(state.customStatus) === 'inspect cluster' });
    const started = api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, {});
    const operationId = (await inspecting).instanceId;
    // The operation looks at the cluster; it decides only once the held episode runs.
    const release = stack.runtime.holdEpisodes(operationId);
    expect(await started).toMatchObject({ status: 202, body: { operationId } });
    await stack.runtime.waitForInstance(operationId, { timeoutMs: 60_000, until: (state) => (state?.inbox ?? []).filter((m) => m.event.EventType === EventType.TaskCompleted).length === 2 });

    const server = stack.lab.server(primary);
    await server.stop();
    rmSync(server.node.dataDir, { recursive: true, force: true });
    await server.initPrimary(stack.lab.manifest.credentials);
    await server.start();
    const rebuilt = (await stack.lab.inspectAll()).find((n) => n.name === primary) as ReachableNode;
    release();

    const report = await waitForOperation(stack, operationId);
    // Its drain refused, and so did the drain's undo: an operator has to look at the rebuilt cluster.
    expect(report).toMatchObject({ outcome: 'failed', oldPrimary: primary, reason: expect.stringContaining(`${primary} holds another database cluster`) });
    expect(report.steps.filter((s) => s.result === 'failed').map((s) => s.name)).toEqual(['drain primary', 'undo: resume application logins']);
    // Nothing moved: the pools are as they were, and the rebuilt node was not touched.
    const after = await stack.lab.status();
    expect(after.ilb).toMatchObject({ writePool: before.ilb.writePool, readPool: before.ilb.readPool });
    expect((await stack.lab.inspectAll()).find((n) => n.name === primary)).toMatchObject({ reachable: true, role: 'primary', serverStartedAt: rebuilt.serverStartedAt, systemIdentifier: rebuilt.systemIdentifier });
  });
});
