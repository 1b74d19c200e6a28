import * as df from 'durable-functions';
import type { LocalRuntime } from '../../../harness/local/runtime';
import { EventType } from '../../../harness/local/runtime/durable/history-events';
import { gate, testHooks } from '../../fixtures/runtime/test-hooks';
import { LogCollector, startRuntime, tempStateDir, WAIT } from './harness';

/**
 * Durable entities and starts as the extension and the Azure Storage provider give them: entity
 * operations run one batch at a time per entity (so compare-and-set is atomic), calls travel as an
 * EventSent named "op" and come back as an EventRaised named after the request id, the durable
 * client reads and signals entities, critical sections are refused (the extension offers schema V3,
 * `lock` needs V4), and two starts of one instance id that overlap both succeed while one runs.
 */
let runtime: LocalRuntime;
let logs: LogCollector;
const state = tempStateDir();

beforeAll(async () => {
  ({ runtime, logs } = await startRuntime({ stateDir: state.dir }));
});

afterAll(async () => {
  await runtime.stop();
  state.remove();
});

const output = async (id: string): Promise<unknown> => {
  const done = await runtime.waitForInstance(id, WAIT);
  expect(done.runtimeStatus).toBe('Completed');
  return JSON.parse(done.output ?? 'null') as unknown;
};

test('an orchestration calls and signals an entity; its history holds the EventSent requests', async () => {
  const id = await runtime.client.startNew('CountWithEntity', { input: { key: 'c1', times: 3 } });
  const value = await output(id);
  // The signal (+100) was sent before the get, to the same entity: processed in order.
  expect(value).toBe(103);
  const sent = runtime.getInstance(id)?.history.filter((e) => e.EventType === EventType.EventSent) ?? [];
  expect(sent.map((e) => [e.Name, e.InstanceId])).toEqual(Array(5).fill(['op', '@counter@c1']));
  const requests = sent.map((e) => JSON.parse(e.Input ?? '{}') as { op: string; signal?: boolean; id: string; parent: string });
  expect(requests.map((r) => [r.op, r.signal ?? false])).toEqual([['add', false], ['add', false], ['add', false], ['add', true], ['get', false]]);
  expect(new Set(requests.map((r) => r.id)).size).toBe(5);
  expect(requests.every((r) => r.parent === id)).toBe(true);
  const answered = runtime.getInstance(id)?.history.filter((e) => e.EventType === EventType.EventRaised).map((e) => e.Name);
  expect(answered).toEqual(requests.filter((r) => !r.signal).map((r) => r.id));
});

test('the durable client reads an entity (absent until written) and signals it', async () => {
  const counter = new df.EntityId('Counter', 'client');
  expect((await runtime.client.readEntityState(counter)).entityExists).toBe(false);
  await runtime.client.signalEntity(counter, 'add', 5);
  await logs.next((e) => e.event === 'entity.batchCompleted' && e.entity === '@counter@client');
  const read = await runtime.client.readEntityState<{ value: number }>(counter);
  expect(read).toMatchObject({ entityExists: true, entityState: { value: 5 } });
});

test('concurrent claims of one entity: exactly one is granted, every claimant sees the same owner', async () => {
  const ids = await Promise.all(Array.from({ length: 8 }, () => runtime.client.startNew('Claim', { input: { key: 'owner' } })));
  const results = (await Promise.all(ids.map(output))) as Array<{ granted: boolean; owner: string }>;
  expect(results.filter((r) => r.granted)).toHaveLength(1);
  const owner = results.find((r) => r.granted)?.owner;
  expect(ids).toContain(owner);
  expect(results.every((r) => r.owner === owner)).toBe(true);
  expect(runtime.readEntity('Counter', 'owner')).toMatchObject({ owner });
});

test('an operation that throws fails the call in the orchestration, not the entity', async () => {
  const id = await runtime.client.startNew('CallBoom');
  expect(await output(id)).toBe('caught: Error');
  const id2 = await runtime.client.startNew('CountWithEntity', { input: { key: 'boom', times: 1 } });
  expect(await output(id2)).toBe(101);
});

test('an entity signals another entity', async () => {
  await runtime.client.signalEntity(new df.EntityId('Counter', 'from'), 'forward', 'to');
  await logs.next((e) => e.event === 'entity.batchCompleted' && e.entity === '@counter@to');
  expect(runtime.readEntity('Counter', 'to')).toMatchObject({ value: 10 });
});

test('a critical section fails the orchestration: the extension offers schema V3, lock needs V4', async () => {
  const id = await runtime.client.startNew('TakeLock');
  const done = await runtime.waitForInstance(id, WAIT);
  expect(done.runtimeStatus).toBe('Failed');
  expect(done.output).toContain('lock requires a Durable Functions extension that supports OOProc schema V4');
});

test('two overlapping starts of one instance id both succeed; only the first one\'s input runs', async () => {
  const hold = runtime.holdStarts();
  const first = runtime.client.startNew('HelloSequence', { instanceId: 'racing', input: ['first'] });
  await hold.whenWaiting(1);
  const second = runtime.client.startNew('HelloSequence', { instanceId: 'racing', input: ['second'] });
  await hold.whenWaiting(2);
  hold.release();
  expect(await Promise.all([first, second])).toEqual(['racing', 'racing']);
  expect(await output('racing')).toEqual(['Hello first']);
  await logs.next((e) => e.event === 'instance.duplicateStartDiscarded' && e.instanceId === 'racing');
  // Once the first has been written, a start is refused as usual.
  await expect(runtime.client.startNew('HelloSequence', { instanceId: 'racing-2', input: ['a'] })).resolves.toBe('racing-2');
  await runtime.waitForInstance('racing-2', { ...WAIT, until: (s) => s?.runtimeStatus !== 'Pending' });
});

test('a batch cut short by a stopped runtime runs again after the restart, and its caller gets its answer', async () => {
  const restartState = tempStateDir();
  let first: LocalRuntime | undefined = (await startRuntime({ stateDir: restartState.dir })).runtime;
  try {
    const id = await first.client.startNew('CallGated', { input: { key: 'restart' } });
    await waitForInvocation('Counter.gated:restart', 1);
    const stopping = first.stop();
    gate('entity:restart').release();
    await stopping;
    first = undefined;
    const second = await startRuntime({ stateDir: restartState.dir });
    try {
      const done = await second.runtime.waitForInstance(id, WAIT);
      expect(JSON.parse(done.output ?? 'null')).toBe(1);
      expect(testHooks().invocations.get('Counter.gated:restart')).toBe(2);
      expect(second.runtime.readEntity('Counter', 'restart')).toMatchObject({ value: 1 });
    } finally {
      await second.runtime.stop();
    }
  } finally {
    await first?.stop();
    restartState.remove();
  }
});

async function waitForInvocation(key: string, count: number): Promise<void> {
  // The fixture counts on a shared global; poll it on the event loop (no timed sleeps).
  while ((testHooks().invocations.get(key) ?? 0) < count) await new Promise((resolve) => setImmediate(resolve));
}
