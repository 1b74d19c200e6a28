import { resolve } from 'node:path';
import type { LocalRuntime } from '../../../harness/local/runtime';
import { currentOperation, startOperation } from '../../../src/app/operations';
import type { ClusterConfig } from '../../../src/config/schema';
import { operationGateId, type OperationInput, type OperationKind } from '../../../src/domain/operation';
import { startRuntime, tempStateDir, WAIT } from './harness';

/**
 * The app's single-flight gate (orchestrations/cluster-operation.ts, src/app/operations.ts) under
 * Azure's terminate semantics: terminating the gate ends the gate only, its operation (a
 * sub-orchestration) runs on (docs/azure-platform.md item 2). The gate's id is then free, but the
 * cluster is not: no second operation may start while the first still runs.
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

const running = (id: string) => runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' && s.customStatus !== null });

test('a terminated gate\'s operation still holds the cluster until it ends', async () => {
  const client = runtime.client;
  expect(await startOperation(client, input('c1', 'c1-switchover-1', 'switchover'))).toEqual({ started: true, operationId: 'c1-switchover-1' });
  await running('c1-switchover-1');
  expect(await startOperation(client, input('c1', 'c1-failover-2', 'failover'))).toEqual({ started: false, running: { operationId: 'c1-switchover-1', kind: 'switchover' } });

  // Terminate the gate: it ends, its operation does not.
  await client.terminate(operationGateId('c1'), 'stuck, says the operator');
  expect((await runtime.waitForInstance(operationGateId('c1'), WAIT)).runtimeStatus).toBe('Terminated');
  expect(runtime.getInstance('c1-switchover-1')?.runtimeStatus).toBe('Running');
  expect(await currentOperation(client, 'c1')).toEqual({ operationId: 'c1-switchover-1', kind: 'switchover' });
  expect(await startOperation(client, input('c1', 'c1-failover-3', 'failover'))).toEqual({ started: false, running: { operationId: 'c1-switchover-1', kind: 'switchover' } });

  // Even with the gate purged (nothing left that names the operation), the running instances are.
  await client.purgeInstanceHistory(operationGateId('c1'));
  expect(await currentOperation(client, 'c1')).toBeUndefined();
  expect(await startOperation(client, input('c1', 'c1-failover-4', 'failover'))).toEqual({ started: false, running: { operationId: 'c1-switchover-1', kind: 'switchover' } });
  expect(runtime.getInstance(operationGateId('c1'))).toBeUndefined();

  // A cluster whose name merely starts like c1's operation ids is not held up by it, nor c1 by its operations.
  expect(await startOperation(client, input('c1-switchover', 'c1-switchover-switchover-5', 'switchover'))).toEqual({ started: true, operationId: 'c1-switchover-switchover-5' });
  await running('c1-switchover-switchover-5');

  // The operation ends: the cluster is free again.
  await client.raiseEvent('c1-switchover-1', 'finish', null);
  expect((await runtime.waitForInstance('c1-switchover-1', WAIT)).runtimeStatus).toBe('Completed');
  expect(await startOperation(client, input('c1', 'c1-failover-6', 'failover'))).toEqual({ started: true, operationId: 'c1-failover-6' });
  await running('c1-failover-6');
  expect(await currentOperation(client, 'c1')).toEqual({ operationId: 'c1-failover-6', kind: 'failover' });
});
