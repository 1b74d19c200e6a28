import type { LocalRuntime } from '../../../harness/local/runtime';
import { createRuntimeLog, EventType, realClock, type InstanceState } from '../../../harness/local/runtime';
import { ActionType, type ActionJson, type OrchestratorStateJson } from '../../../harness/local/runtime/durable/actions';
import type { OrchestrationBinding } from '../../../harness/local/runtime/durable/orchestration-binding';
import { OrchestrationEngine } from '../../../harness/local/runtime/durable/orchestration-engine';
import { InstanceStore } from '../../../harness/local/runtime/durable/instance-store';
import { parseFunctionTimeout } from '../../../harness/local/runtime/host/function-timeout';
import { gate } from '../../fixtures/runtime/test-hooks';
import { LogCollector, startRuntime, tempStateDir, WAIT } from './harness';

/**
 * Azure behaviours the app must survive and the local runtime reproduces (docs/azure-platform.md):
 * external events lost at continueAsNew (item 3), terminate not cascading to sub-orchestrations
 * (item 2), the 16 KB custom status limit (item 6).
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

const count = (s: InstanceState | undefined, type: number): number => s?.history.filter((e) => e.EventType === type).length ?? 0;
const lostLogs = (instanceId: string) => logs.entries.filter((e) => e.event === 'event.lostAtContinueAsNew' && e.instanceId === instanceId);

describe('continueAsNew', () => {
  test('an event delivered into the ending execution and not taken is lost and logged; the next execution sees only later events', async () => {
    const id = await runtime.client.startNew('TakeOneThenContinue', { instanceId: 'lost-at-can', input: { gate: 'lost-at-can', taken: [], rounds: 2 } });
    await runtime.waitForInstance(id, { ...WAIT, until: (s) => count(s, EventType.TaskScheduled) === 1 });
    // The orchestrator waits for its activity: both events are delivered into its history, buffered.
    await runtime.client.raiseEvent(id, 'Item', 'a');
    await runtime.waitForInstance(id, { ...WAIT, until: (s) => count(s, EventType.EventRaised) === 1 });
    await runtime.client.raiseEvent(id, 'Item', 'b');
    const before = await runtime.waitForInstance(id, { ...WAIT, until: (s) => count(s, EventType.EventRaised) === 2 });
    gate('lost-at-can').release();

    // It takes "a", continues as new, and "b" goes with the old execution's history.
    const lost = await logs.next((e) => e.event === 'event.lostAtContinueAsNew' && e.instanceId === id);
    expect(lost).toMatchObject({ level: 'warn', name: 'Item', executionId: before.executionId });
    const next = await runtime.waitForInstance(id, { ...WAIT, until: (s) => !!s && s.executionId !== before.executionId && s.runtimeStatus === 'Running' && s.inbox.length === 0 });
    expect(JSON.parse(next.input ?? 'null')).toEqual({ taken: ['a'], rounds: 2 });
    expect(count(next, EventType.EventRaised)).toBe(0);

    await runtime.client.raiseEvent(id, 'Item', 'c');
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Completed');
    expect(JSON.parse(done.output ?? 'null')).toEqual(['a', 'c']);
    expect(lostLogs(id)).toHaveLength(1);
  });

  test('two events in the batch that ends the execution: the one not taken is lost', async () => {
    const id = await runtime.client.startNew('TakeOneThenContinue', { instanceId: 'lost-in-batch', input: { taken: [], rounds: 2 } });
    await runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' && s.inbox.length === 0 });
    const release = runtime.holdEpisodes(id);
    await runtime.client.raiseEvent(id, 'Item', 'first');
    await runtime.client.raiseEvent(id, 'Item', 'second');
    expect(runtime.getInstance(id)?.inbox).toHaveLength(2);
    release();
    await logs.next((e) => e.event === 'event.lostAtContinueAsNew' && e.instanceId === id);
    await runtime.waitForInstance(id, { ...WAIT, until: (s) => JSON.parse(s?.input ?? 'null')?.taken?.length === 1 && s?.inbox.length === 0 && s.runtimeStatus === 'Running' });
    await runtime.client.raiseEvent(id, 'Item', 'third');
    const done = await runtime.waitForInstance(id, WAIT);
    expect(JSON.parse(done.output ?? 'null')).toEqual(['first', 'third']);
    expect(lostLogs(id).map((e) => e.name)).toEqual(['Item']);
  });
});

describe('an event raised while the last episode runs (engine with a scripted orchestrator)', () => {
  /**
   * "Take one event E, then continue as new; the second execution returns what it takes." The
   * first execution's last episode blocks until the test lets it finish, so an event can be
   * raised while it runs.
   */
  test('is not lost: it reaches the new execution, after that execution\'s first episode', async () => {
    const dir = tempStateDir();
    const engineLogs = new LogCollector();
    const seen: Array<{ round: number; events: unknown[] }> = [];
    let entered!: () => void;
    const enteredLast = new Promise<void>((resolve) => (entered = resolve));
    let finish!: () => void;
    const finishLast = new Promise<void>((resolve) => (finish = resolve));
    const wait: ActionJson = { actionType: ActionType.WaitForExternalEvent, externalEventName: 'E', reason: 'ExternalEvent' };
    const scripted = async (binding: OrchestrationBinding): Promise<{ state: OrchestratorStateJson }> => {
      const round = (binding.input as { round: number }).round;
      const events = binding.history.filter((e) => e.EventType === EventType.EventRaised).map((e) => JSON.parse(e.Input ?? 'null') as unknown);
      seen.push({ round, events });
      if (events.length === 0) return { state: { isDone: false, actions: [[wait]], schemaVersion: 2 } };
      if (round === 1) return { state: { isDone: true, actions: [[wait]], output: events[0], schemaVersion: 2 } };
      entered();
      await finishLast;
      return { state: { isDone: true, actions: [[wait, { actionType: ActionType.ContinueAsNew, input: { round: 1 } }]], schemaVersion: 2 } };
    };
    const engine = new OrchestrationEngine({
      store: new InstanceStore(dir.dir),
      clock: realClock,
      log: createRuntimeLog(engineLogs.sink, 'debug'),
      orchestratorNames: () => ['Scripted'],
      activityNames: () => [],
      entityNames: () => [],
      deliverToEntity: () => undefined,
      runOrchestrator: (_name, binding) => scripted(binding),
      runActivity: () => Promise.resolve({ ok: true, result: null }),
      functionTimeout: parseFunctionTimeout('00:10:00'),
    });
    try {
      engine.start();
      const id = await engine.startNew('Scripted', 'queued-at-can', JSON.stringify({ round: 0 }));
      await engine.waitFor(id, { timeoutMs: 10_000, until: (s) => s?.runtimeStatus === 'Running' && s.inbox.length === 0 });
      engine.raiseEvent(id, 'E', '"x"');
      await enteredLast;
      engine.raiseEvent(id, 'E', '"y"'); // queued while the episode that ends the execution runs
      finish();
      const done = await engine.waitFor(id, { timeoutMs: 10_000 });
      expect(done?.runtimeStatus).toBe('Completed');
      expect(JSON.parse(done?.output ?? 'null')).toBe('y');
      expect(engineLogs.entries.filter((e) => e.event === 'event.lostAtContinueAsNew')).toEqual([]);
      // The new execution ran first with its ExecutionStarted alone, then got "y".
      expect(seen.filter((s) => s.round === 1)).toEqual([{ round: 1, events: [] }, { round: 1, events: ['y'] }]);
    } finally {
      await engine.stop();
      dir.remove();
    }
  });
});

describe('terminate', () => {
  test('does not cascade: the terminated parent\'s child runs to its end, and its result is dropped', async () => {
    const id = await runtime.client.startNew('ParentOfWaiter', { instanceId: 'term-parent' });
    const childId = `${id}-child`;
    await runtime.waitForInstance(childId, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' && s.customStatus !== null });
    await runtime.client.terminate(id, 'operator stopped the parent');
    const parent = await runtime.waitForInstance(id, WAIT);
    expect(parent.runtimeStatus).toBe('Terminated');
    expect(runtime.getInstance(childId)?.runtimeStatus).toBe('Running');

    await runtime.client.raiseEvent(childId, 'Go', 'child');
    const child = await runtime.waitForInstance(childId, WAIT);
    expect(child.runtimeStatus).toBe('Completed');
    expect(JSON.parse(child.output ?? 'null')).toBe('Hello child');
    await logs.next((e) => e.event === 'message.dropped' && e.instanceId === id);
    const after = runtime.getInstance(id)!;
    expect(after.runtimeStatus).toBe('Terminated');
    expect(after.history).toEqual(parent.history);
  });
});

describe('custom status size', () => {
  const limitMessage = "Orchestrator function 'BigStatus' failed: The UTF-16 size of the JSON-serialized payload must not exceed 16 KB. The current payload size is 17 KB.";

  test('JSON of up to 8703 UTF-16 code units (16 KB when rounded down) is accepted', async () => {
    const id = await runtime.client.startNew('BigStatus', { input: { chars: 8703 } });
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.customStatus).toHaveLength(8703);
  });

  test('one more fails the orchestration with the extension\'s message, before anything of the episode is scheduled', async () => {
    const id = await runtime.client.startNew('BigStatus', { input: { chars: 8704 } });
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Failed');
    expect((await runtime.client.getStatus(id)).output).toBe(limitMessage);
    expect(count(done, EventType.TaskScheduled)).toBe(0);
    expect(done.customStatus).toBeNull();
  });
});
