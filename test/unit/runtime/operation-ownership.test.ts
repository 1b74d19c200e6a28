import { resolve } from 'node:path';
import type { LocalRuntime } from '../../../harness/local/runtime';
import { currentOperation, readOperation, startOperation } from '../../../src/app/operations';
import type { ClusterConfig } from '../../../src/config/schema';
import type { OperationInput, OperationKind, OperationReport } from '../../../src/domain/operation';
import { startRuntime, tempStateDir, WAIT } from './harness';

/**
 * One operation per cluster (docs/invariants.md S5) under Azure's semantics: starts of one id race
 * (Azure Storage reads, then writes), terminating never releases anything, and a claim in the
 * cluster's ownership entity is the only atomic step. The operations are stand-ins that own their
 * cluster through the app's real entity and claim wrapper (orchestrations/ownership.ts).
 */
let runtime: LocalRuntime;
const state = tempStateDir();

beforeAll(async () => {
  ({ runtime } = await startRuntime({ stateDir: state.dir, appModule: resolve(__dirname, '../../fixtures/runtime/operation-app.ts') }));
});

afterAll(async () => {
  await runtime.stop();
  state.remove();
});

const input = (cluster: string, operationId: string, kind: OperationKind): OperationInput<unknown> => ({
  operationId,
  kind,
  cluster: { name: cluster } as ClusterConfig,
  request: {},
  requestedBy: 'test',
});

/** Until the operation has claimed its cluster (working) or ended. */
const settled = async (id: string, cluster = id.split('-')[0] as string): Promise<OperationReport | undefined> => {
  await runtime.waitForInstance(id, {
    ...WAIT,
    until: (s) => !!s && (s.runtimeStatus === 'Completed' || (s.customStatus !== null && (JSON.parse(s.customStatus) as OperationReport).currentStep === 'working')),
  });
  return readOperation(runtime.client, cluster, id);
};

test('triggers that race past the ownership check: one operation runs, the other is refused and told which', async () => {
  const client = runtime.client;
  const hold = runtime.holdStarts();
  const ids = ['race-switchover-1', 'race-failover-2'];
  const starts = Promise.all([startOperation(client, input('race', ids[0] as string, 'switchover')), startOperation(client, input('race', ids[1] as string, 'failover'))]);
  await hold.whenWaiting(2); // both passed the ownership check before either was written
  hold.release();
  const answers = await starts;
  const won = answers.find((a) => a.started);
  const lost = answers.find((a) => !a.started);
  if (!won?.started || !lost || lost.started) throw new Error(`expected one start and one refusal, got ${JSON.stringify(answers)}`);
  expect(lost.running.operationId).toBe(won.operationId);
  // Both operations exist: the winner runs, the loser ended refused, naming the winner, having changed nothing.
  const loserId = ids.find((id) => id !== won.operationId) as string;
  expect(await settled(won.operationId)).toMatchObject({ outcome: 'running' });
  const refused = await settled(loserId);
  expect(refused).toMatchObject({ outcome: 'refused', steps: [{ name: 'claim cluster', result: 'ok' }] });
  expect(refused?.reason).toContain(`${lost.running.kind} ${won.operationId} owns cluster race`);
  expect(await currentOperation(client, 'race')).toEqual(lost.running);
  // A later trigger is refused before it starts anything.
  expect(await startOperation(client, input('race', 'race-failover-3', 'failover'))).toEqual({ started: false, running: lost.running });
  expect(runtime.getInstance('race-failover-3')).toBeUndefined();
  await client.raiseEvent(won.operationId, 'finish', null);
  await runtime.waitForInstance(won.operationId, WAIT);
  expect(await readOperation(client, 'race', won.operationId)).toMatchObject({ outcome: 'completed' });
  expect(runtime.readEntity('clusterOwnership', 'race')).toEqual({ owner: null, leaseHandedTo: null });
});

test('a terminated owner does not hold the cluster: the next operation takes it over', async () => {
  const client = runtime.client;
  expect(await startOperation(client, input('c1', 'c1-switchover-1', 'switchover'))).toEqual({ started: true, operationId: 'c1-switchover-1' });
  expect((await settled('c1-switchover-1'))?.outcome).toBe('running');
  expect(await startOperation(client, input('c1', 'c1-failover-2', 'failover'))).toEqual({ started: false, running: { operationId: 'c1-switchover-1', kind: 'switchover' } });

  await client.terminate('c1-switchover-1', 'stuck, says the operator');
  expect((await runtime.waitForInstance('c1-switchover-1', WAIT)).runtimeStatus).toBe('Terminated');
  expect(runtime.readEntity('clusterOwnership', 'c1')).toMatchObject({ owner: { operationId: 'c1-switchover-1' } }); // never released
  expect(await currentOperation(client, 'c1')).toBeUndefined();

  expect(await startOperation(client, input('c1', 'c1-failover-3', 'failover'))).toEqual({ started: true, operationId: 'c1-failover-3' });
  const report = await settled('c1-failover-3');
  expect(report?.outcome).toBe('running');
  expect(report?.steps.find((s) => s.name === 'claim cluster')?.result).toBe('ok');
  expect(await currentOperation(client, 'c1')).toEqual({ operationId: 'c1-failover-3', kind: 'failover' });

  // Another cluster, even one named like c1's operation ids, is not held up, and cannot read c1's operations.
  expect(await startOperation(client, input('c1-switchover', 'c1-switchover-switchover-5', 'switchover'))).toEqual({ started: true, operationId: 'c1-switchover-switchover-5' });
  expect((await settled('c1-switchover-switchover-5', 'c1-switchover'))?.outcome).toBe('running');
  expect(await readOperation(client, 'c1-switchover', 'c1-failover-3')).toBeUndefined();
  expect(await readOperation(client, 'c1', 'c1-switchover-switchover-5')).toBeUndefined();

  await client.raiseEvent('c1-failover-3', 'finish', null);
  expect((await runtime.waitForInstance('c1-failover-3', WAIT)).runtimeStatus).toBe('Completed');
  expect(await currentOperation(client, 'c1')).toBeUndefined();
  expect(await startOperation(client, input('c1', 'c1-failover-6', 'failover'))).toEqual({ started: true, operationId: 'c1-failover-6' });
  expect((await settled('c1-failover-6'))?.outcome).toBe('running');
});
