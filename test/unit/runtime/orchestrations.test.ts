import * as df from 'durable-functions';
import type { LocalRuntime } from '../../../harness/local/runtime';
import { EventType, eventTypeName, type HistoryEvent, type InstanceState } from '../../../harness/local/runtime';
import { startRuntime, tempStateDir, WAIT } from './harness';

/** Replays of the fixture orchestrations (test/fixtures/runtime/durable-app.ts) end to end. */
let runtime: LocalRuntime;
const state = tempStateDir();

beforeAll(async () => {
  ({ runtime } = await startRuntime({ stateDir: state.dir }));
});

afterAll(async () => {
  await runtime.stop();
  state.remove();
});

/** History without the OrchestratorStarted/Completed brackets, as "Type#id" / "Type->id". */
function story(events: readonly HistoryEvent[]): string[] {
  return events
    .filter((e) => e.EventType !== EventType.OrchestratorStarted && e.EventType !== EventType.OrchestratorCompleted)
    .map((e) => {
      const name = eventTypeName(e.EventType);
      if (e.EventId >= 0) return `${name}#${e.EventId}`;
      const target = e.TaskScheduledId ?? e.TimerId;
      return target === undefined ? name : `${name}->${target}`;
    });
}

async function run(name: string, input?: unknown, instanceId?: string): Promise<InstanceState> {
  const id = await runtime.client.startNew(name, { input, instanceId });
  return runtime.waitForInstance(id, WAIT);
}

test('activities run in sequence, custom status and output reach getStatus', async () => {
  const done = await run('HelloSequence', ['Tokyo', 'Paris']);
  expect(done.runtimeStatus).toBe('Completed');
  expect(story(done.history)).toEqual([
    'ExecutionStarted',
    'TaskScheduled#0',
    'TaskCompleted->0',
    'TaskScheduled#1',
    'TaskCompleted->1',
    'ExecutionCompleted',
  ]);
  const status = await runtime.client.getStatus(done.instanceId);
  expect(status.runtimeStatus).toBe('Completed');
  expect(status.output).toEqual(['Hello Tokyo', 'Hello Paris']);
  expect(status.input).toEqual(['Tokyo', 'Paris']);
  expect(status.customStatus).toEqual({ step: 'done' });
});

test('callActivityWithRetry: two failures, each followed by a host retry timer, then success', async () => {
  const done = await run('RetryFlaky', 'retry-key');
  expect(done.runtimeStatus).toBe('Completed');
  expect(JSON.parse(done.output ?? 'null')).toEqual({ key: 'retry-key', attempt: 3 });
  expect(story(done.history)).toEqual([
    'ExecutionStarted',
    'TaskScheduled#0',
    'TaskFailed->0',
    'TimerCreated#1',
    'TimerFired->1',
    'TaskScheduled#2',
    'TaskFailed->2',
    'TimerCreated#3',
    'TimerFired->3',
    'TaskScheduled#4',
    'TaskCompleted->4',
    'ExecutionCompleted',
  ]);
  // Each retry timer fires firstRetryInterval (50 ms, backoff 1) after the orchestration time at
  // which the failure was processed (RetryInterceptor uses CurrentUtcDateTime).
  for (const timerId of [1, 3]) {
    const index = done.history.findIndex((e) => e.EventType === EventType.TimerCreated && e.EventId === timerId);
    const started = done.history.slice(0, index).reverse().find((e) => e.EventType === EventType.OrchestratorStarted);
    const created = done.history[index];
    expect(Date.parse(created?.FireAt ?? '') - Date.parse(started?.Timestamp ?? '')).toBe(50);
  }
  const failure = done.history.find((e) => e.EventType === EventType.TaskFailed);
  expect(failure?.Reason).toBe("Activity function 'Flaky' failed: flaky failure #1");
});

test('an activity failure reaches the orchestrator as an error it can catch', async () => {
  const done = await run('CatchActivityFailure');
  const output = JSON.parse(done.output ?? 'null') as { caught: string };
  expect(done.runtimeStatus).toBe('Completed');
  expect(output.caught.startsWith("Activity function 'AlwaysFails' failed: disk on fire")).toBe(true);
});

test('an orchestrator that throws fails the instance with the host message', async () => {
  const done = await run('ThrowAfterActivity');
  expect(done.runtimeStatus).toBe('Failed');
  const status = await runtime.client.getStatus(done.instanceId);
  expect(status.output).toBe("Orchestrator function 'ThrowAfterActivity' failed: boom");
});

test('timer racing an external event: the event wins', async () => {
  const id = await runtime.client.startNew('ApprovalOrTimeout', { input: { timeoutMs: 10 * 60_000 } });
  await runtime.waitForInstance(id, { ...WAIT, until: (s) => !!s?.history.some((e) => e.EventType === EventType.TimerCreated) });
  await runtime.client.raiseEvent(id, 'Approval', 'alice');
  const done = await runtime.waitForInstance(id, WAIT);
  expect(done.runtimeStatus).toBe('Completed');
  expect(JSON.parse(done.output ?? 'null')).toEqual({ outcome: 'approved', by: 'alice' });
  expect(story(done.history)).toEqual(['ExecutionStarted', 'TimerCreated#0', 'EventRaised', 'ExecutionCompleted']);
});

test('timer racing an external event: the timer wins', async () => {
  const done = await run('ApprovalOrTimeout', { timeoutMs: 50 });
  expect(done.runtimeStatus).toBe('Completed');
  expect(JSON.parse(done.output ?? 'null')).toEqual({ outcome: 'timedOut' });
  expect(story(done.history)).toEqual(['ExecutionStarted', 'TimerCreated#0', 'TimerFired->0', 'ExecutionCompleted']);
  // An event after completion is refused like the extension does (410), which the SDK accepts.
  await expect(runtime.client.raiseEvent(done.instanceId, 'Approval', 'late')).resolves.toBeUndefined();
});

test('sub-orchestrations: generated and explicit instance ids, a failing child surfaces as an error', async () => {
  const done = await run('Parent', undefined, 'parent-1');
  expect(done.runtimeStatus).toBe('Completed');
  const output = JSON.parse(done.output ?? 'null') as { first: unknown; second: unknown; failure: string };
  expect(output.first).toEqual({ greeting: 'Hello first', parent: 'parent-1' });
  expect(output.second).toEqual({ greeting: 'Hello second', parent: 'parent-1' });
  expect(output.failure).toContain("Orchestrator function 'FailingChild' failed: child exploded");
  expect(story(done.history)).toEqual([
    'ExecutionStarted',
    'SubOrchestrationInstanceCreated#0',
    'SubOrchestrationInstanceCompleted->0',
    'SubOrchestrationInstanceCreated#1',
    'SubOrchestrationInstanceCompleted->1',
    'SubOrchestrationInstanceCreated#2',
    'SubOrchestrationInstanceFailed->2',
    'ExecutionCompleted',
  ]);
  const created = done.history.filter((e) => e.EventType === EventType.SubOrchestrationInstanceCreated);
  // DurableTask.Core names an unnamed sub-orchestration "<parent execution id>:<sequence number>".
  expect(created[0]?.InstanceId).toBe(`${done.executionId}:0`);
  expect(created[1]?.InstanceId).toBe('parent-1-child-2');
  const child = runtime.getInstance('parent-1-child-2');
  expect(child?.runtimeStatus).toBe('Completed');
  expect(child?.parent).toMatchObject({ instanceId: 'parent-1', taskScheduledId: 1 });
});

test('continueAsNew starts a fresh execution with the new input until the orchestrator returns', async () => {
  const done = await run('CountUp', 0, 'count-up');
  expect(done.runtimeStatus).toBe('Completed');
  expect(JSON.parse(done.output ?? 'null')).toEqual({ final: 3, instanceId: 'count-up' });
  expect(done.input).toBe('3');
  expect(JSON.parse(done.customStatus ?? 'null')).toEqual({ n: 3 });
  // Only the last execution's history is kept; it began with input 3.
  expect(done.history.filter((e) => e.EventType === EventType.ExecutionStarted).map((e) => e.Input)).toEqual(['3']);
  expect(story(done.history)).toEqual(['ExecutionStarted', 'TimerCreated#0', 'TimerFired->0', 'ExecutionCompleted']);
});

test('Task.all fan-out/fan-in, and an event raised before the orchestrator waits for it', async () => {
  const id = await runtime.client.startNew('FanOutFanIn');
  await runtime.client.raiseEvent(id, 'Extra', { early: true });
  const done = await runtime.waitForInstance(id, WAIT);
  expect(done.runtimeStatus).toBe('Completed');
  expect(JSON.parse(done.output ?? 'null')).toEqual({ greetings: ['Hello a', 'Hello b', 'Hello c'], extra: { early: true } });
});

test('status queries: list, showHistory (the extension\'s friendly form), terminate and purge', async () => {
  const id = await runtime.client.startNew('WaitForGo', { instanceId: 'to-terminate' });
  await runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' });
  const running = await runtime.client.getStatus(id, { showHistory: true, showHistoryOutput: true });
  expect(running.runtimeStatus).toBe('Running');
  expect(running.customStatus).toEqual({ waitingFor: 'Go' });
  // The extension sends the history as `historyEvents`; the JS SDK reads `history`, so it is
  // undefined in Azure as well (the raw history is on runtime.getInstance()).
  expect(running.history).toBeUndefined();
  await runtime.client.terminate(id, 'operator said stop');
  const done = await runtime.waitForInstance(id, WAIT);
  expect(done.runtimeStatus).toBe('Terminated');
  expect((await runtime.client.getStatus(id)).output).toBe('operator said stop');
  const listed = await runtime.client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Terminated] });
  expect(listed.map((s) => s.instanceId)).toContain(id);
  await expect(runtime.client.purgeInstanceHistory(id)).resolves.toEqual({ instancesDeleted: 1 });
  await expect(runtime.client.purgeInstanceHistory(id)).resolves.toEqual({ instancesDeleted: 0 });
  await expect(runtime.client.terminate(id, 'again')).rejects.toThrow(`No instance with ID '${id}' found.`);
});
