import { ActionType, ReplaySchema, type ActionJson } from '../../../harness/local/runtime/durable/actions';
import { history, type HistoryEvent } from '../../../harness/local/runtime/durable/history-events';
import { replayActions, type HostReplayOptions } from '../../../harness/local/runtime/durable/host-replay';
import { nextRetryDelayMs } from '../../../harness/local/runtime/durable/retry-policy';

/**
 * The host-side replay on hand-built histories: sequence numbers, retry timers, .NET Task
 * semantics, and DurableTask.Core's check that history events match the replayed calls.
 */
const options: HostReplayOptions = {
  instanceId: 'i',
  executionId: 'e',
  schemaVersion: ReplaySchema.V3,
  maximumShortTimerMs: 6 * 24 * 3600 * 1000,
  activityNames: ['A', 'B', 'C', 'Flaky'],
  orchestratorNames: ['Sub'],
  entityNames: ['Counter'],
};
const t = (seconds: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
const started = (at: string): HistoryEvent[] => [
  history.orchestratorStarted(at),
  history.executionStarted(at, { name: 'O', input: null, instanceId: 'i', executionId: 'e' }),
];
const call = (name: string, extra: Partial<ActionJson> = {}): ActionJson => ({ actionType: ActionType.CallActivity, functionName: name, input: undefined, ...extra });
const ids = (events: readonly HistoryEvent[], actions: ActionJson[]) =>
  replayActions(events, [actions], options).newCalls.map((c) => `${c.kind}#${c.id}${c.fireAt ? `@${c.fireAt}` : ''}${c.name ? `:${c.name}` : ''}`);

test('callActivityWithRetry: a timer after every failure (also the last), then the next attempt when it fires', () => {
  const retry: ActionJson = {
    actionType: ActionType.CallActivityWithRetry,
    functionName: 'Flaky',
    retryOptions: { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 2, backoffCoefficient: 2 },
  };
  const h: HistoryEvent[] = [...started(t(0))];
  expect(ids(h, [retry])).toEqual(['activity#0:Flaky']);
  h.push(history.taskScheduled(t(0), 0, 'Flaky', null), history.orchestratorStarted(t(5)), history.taskFailed(t(5), 0, 'r', 'd'));
  expect(ids(h, [retry])).toEqual([`timer#1@${t(6)}`]);
  h.push(history.timerCreated(t(5), 1, t(6)), history.orchestratorStarted(t(6)), history.timerFired(t(6), 1, t(6)));
  expect(ids(h, [retry])).toEqual(['activity#2:Flaky']);
  h.push(history.taskScheduled(t(6), 2, 'Flaky', null), history.orchestratorStarted(t(9)), history.taskFailed(t(9), 2, 'r', 'd'));
  // Second retry delay: 1000 ms * 2^1. The JS SDK's RetryableTask also waits for this timer.
  expect(ids(h, [retry])).toEqual([`timer#3@${t(11)}`]);
  h.push(history.timerCreated(t(9), 3, t(11)), history.orchestratorStarted(t(11)), history.timerFired(t(11), 3, t(11)));
  // Attempts exhausted: the retry task fails and the driver moves on to the next action.
  expect(ids(h, [retry, call('C')])).toEqual(['activity#4:C']);
});

test('retry delays follow RetryInterceptor: backoff, max interval, retry timeout', () => {
  const o = { firstRetryIntervalInMilliseconds: 100, maxNumberOfAttempts: 9, backoffCoefficient: 3, maxRetryIntervalInMilliseconds: 1000 };
  expect([0, 1, 2, 3].map((attempt) => nextRetryDelayMs(o, attempt, 0, 0))).toEqual([100, 300, 900, 1000]);
  expect(nextRetryDelayMs({ ...o, retryTimeoutInMilliseconds: 500 }, 0, 0, 499)).toBe(100);
  expect(nextRetryDelayMs({ ...o, retryTimeoutInMilliseconds: 500 }, 0, 0, 500)).toBe(0);
  expect(nextRetryDelayMs({ firstRetryIntervalInMilliseconds: 50, maxNumberOfAttempts: 3 }, 5, 0, 0)).toBe(50);
});

test('Task.all waits for every child before the next action (.NET Task.WhenAll), Task.any for the first', () => {
  const all: ActionJson = { actionType: ActionType.WhenAll, compoundActions: [call('A'), call('B')] };
  const h = [...started(t(0)), history.taskScheduled(t(0), 0, 'A', null), history.taskScheduled(t(0), 1, 'B', null)];
  h.push(history.orchestratorStarted(t(1)), history.taskFailed(t(1), 0, 'r', 'd'));
  expect(ids(h, [all, call('C')])).toEqual([]);
  h.push(history.orchestratorStarted(t(2)), history.taskCompleted(t(2), 1, '1'));
  expect(ids(h, [all, call('C')])).toEqual(['activity#2:C']);
  const any: ActionJson = { actionType: ActionType.WhenAny, compoundActions: [call('A'), call('B')] };
  const h2 = [...started(t(0)), history.taskScheduled(t(0), 0, 'A', null), history.taskScheduled(t(0), 1, 'B', null)];
  h2.push(history.orchestratorStarted(t(1)), history.taskCompleted(t(1), 1, '1'));
  expect(ids(h2, [any, call('C')])).toEqual(['activity#2:C']);
});

test('external events: the newest waiter gets an event, unclaimed events are buffered', () => {
  const wait: ActionJson = { actionType: ActionType.WaitForExternalEvent, externalEventName: 'go' };
  const h = [...started(t(0)), history.eventRaised(t(0), 'go', '1')];
  expect(ids(h, [wait, call('A')])).toEqual(['activity#0:A']);
  expect(ids(started(t(0)), [wait, call('A')])).toEqual([]);
});

test('a timer the SDK canceled keeps its sequence number but no longer blocks the driver', () => {
  const timer: ActionJson = { actionType: ActionType.CreateTimer, fireAt: t(60), isCanceled: true };
  const h = [...started(t(0)), history.timerCreated(t(0), 0, t(60))];
  expect(ids(h, [timer, call('A')])).toEqual(['activity#1:A']);
});

test('history that does not match the replayed calls is non-deterministic (DurableTask.Core check)', () => {
  const h = [...started(t(0)), history.taskScheduled(t(0), 0, 'A', null)];
  const renamed = replayActions(h, [[call('B')]], options);
  expect(renamed.failure?.nonDeterministic).toBe(true);
  expect(renamed.failure?.message).toContain("named 'A'");
  expect(renamed.failure?.message).toContain("named 'B'");
  const retyped = replayActions(h, [[{ actionType: ActionType.CreateTimer, fireAt: t(5) }]], options);
  expect(retyped.failure?.message).toContain('produced a timer call with this sequence number');
  const missing = replayActions(h, [[]], options);
  expect(missing.failure?.message).toContain("hasn't (yet?) scheduled this task");
});

test('unknown functions, long timers and unsupported actions fail the orchestration with a clear message', () => {
  const unknown = replayActions(started(t(0)), [[call('Nope')]], options);
  expect(unknown.failure).toEqual({
    nonDeterministic: false,
    message: "The function 'Nope' doesn't exist, is disabled, or is not an activity function. Additional info: The following are the known activity functions: 'A', 'B', 'C', 'Flaky'.",
  });
  const long = replayActions(started(t(0)), [[{ actionType: ActionType.CreateTimer, fireAt: new Date(Date.UTC(2026, 0, 8)).toISOString() }]], options);
  expect(long.failure?.message).toContain('not supported by the local runtime');
  const http = replayActions(started(t(0)), [[{ actionType: ActionType.CallHttp }]], options);
  expect(http.failure?.message).toBe('CallHttp is not supported by the local runtime.');
  const unknownEntity = replayActions(started(t(0)), [[{ actionType: ActionType.CallEntity, instanceId: '@ghost@k', operation: 'get' }]], options);
  expect(unknownEntity.failure?.message).toMatch(/^The function 'ghost' doesn't exist, is disabled, or is not an entity function/);
});

test('continueAsNew and sub-orchestration ids', () => {
  const sub: ActionJson = { actionType: ActionType.CallSubOrchestrator, functionName: 'Sub', input: { x: 1 } };
  const result = replayActions(started(t(0)), [[sub, { actionType: ActionType.ContinueAsNew, input: '"next"' }]], options);
  expect(result.newCalls).toEqual([{ id: 0, kind: 'subOrchestration', name: 'Sub', instanceId: 'e:0', input: '{"x":1}' }]);
  const cont = replayActions(started(t(0)), [[{ actionType: ActionType.ContinueAsNew, input: '"next"' }]], options);
  expect(cont.continueAsNew).toEqual({ input: '"next"' });
  const self = replayActions(started(t(0)), [[{ ...sub, instanceId: 'I' }]], options);
  expect(self.failure?.message).toContain('must be different than the instance ID of a parent orchestration');
});
