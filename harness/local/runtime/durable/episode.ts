import type { ActionJson, OrchestratorStateJson } from './actions';
import { describeDivergence, findDivergence } from './determinism';
import { replayActions, type ScheduledCall } from './host-replay';
import { EventType, completedTaskIds, history, type HistoryEvent } from './history-events';
import type { InboxMessage, InstanceState, RuntimeStatus } from './instance-state';
import { MAXIMUM_SHORT_TIMER_MS, orchestrationBinding, type OrchestrationBinding } from './orchestration-binding';
import { limitActivityResult, oversizedEpisodePayload } from './payload-limit';

/**
 * One orchestration episode, split around the (asynchronous) orchestrator invocation:
 * prepareEpisode turns inbox messages into the new history events and the trigger value;
 * completeEpisode takes what the orchestrator returned, checks determinism (against the previous
 * episode's actions and against the history, as DurableTask.Core does) and decides the history
 * appended, the new status and the work to dispatch. Neither touches disk, timers or user code.
 */
export interface PreparedEpisode {
  now: string;
  consumed: InboxMessage[];
  /** Full history handed to the orchestrator: past events (IsPlayed) + this episode's new events. */
  history: HistoryEvent[];
  binding: OrchestrationBinding;
}

export type OrchestratorOutcome = { state: OrchestratorStateJson; error?: string } | { state?: OrchestratorStateJson; error: string };

export interface EpisodeCommit {
  history: HistoryEvent[];
  runtimeStatus: RuntimeStatus;
  output: string | null;
  customStatus: string | null;
  lastActions: ActionJson[];
  newCalls: ScheduledCall[];
  continueAsNewInput?: string | null;
  /**
   * EventRaised events delivered into the ending execution's history that no waiter took: lost with
   * it at continueAsNew (empty unless runtimeStatus is ContinuedAsNew).
   */
  lostEvents: HistoryEvent[];
  failure?: string;
  warnings: string[];
}

/**
 * The extension's limit on a custom status: DurableOrchestrationContext.SetCustomStatus serializes
 * it with MessagePayloadDataConverter.Serialize(value, maxSizeInKB: 16), which throws an
 * ArgumentException when the JSON's UTF-16 size, in whole KB rounded down, is above 16 (so JSON
 * text of up to 8703 UTF-16 code units passes). OutOfProcOrchestrationShim.ScheduleDurableTaskEvents
 * sets the status before it replays the actions, so nothing of that episode is scheduled and
 * TaskOrchestrationShim fails the instance: "Orchestrator function '<name>' failed: <message>".
 * The extension re-serializes the SDK's JSON with Newtonsoft (compact); JSON.stringify's length is
 * the same or, for ISO dates Newtonsoft shortens, a few characters longer.
 */
export const MAX_CUSTOM_STATUS_KB = 16;

export function customStatusSizeError(json: string): string | undefined {
  const kb = Math.floor((json.length * 2) / 1024);
  if (kb <= MAX_CUSTOM_STATUS_KB) return undefined;
  const n0 = (value: number) => value.toLocaleString('en-US');
  return `The UTF-16 size of the JSON-serialized payload must not exceed ${n0(MAX_CUSTOM_STATUS_KB)} KB. The current payload size is ${n0(kb)} KB.`;
}

/** The backend's payload limit (Durable Task Scheduler: 1 MB; none on Azure Storage): payload-limit.ts. */
export interface PayloadLimits {
  maxPayloadBytes?: number;
}

/** Returns undefined when no message adds anything to the history (stale or duplicate deliveries). */
export function prepareEpisode(state: InstanceState, inbox: readonly InboxMessage[], now: string, limits: PayloadLimits = {}): PreparedEpisode | undefined {
  const past = state.history.map((e) => ({ ...e, IsPlayed: true }));
  const scheduledIds = new Set(past.filter((e) => isScheduling(e)).map((e) => e.EventId));
  const done = completedTaskIds(past);
  const events: HistoryEvent[] = [];
  for (const message of inbox) {
    const event = message.event;
    if (event.EventType === EventType.ExecutionStarted) {
      if (past.length === 0 && !events.some((e) => e.EventType === EventType.ExecutionStarted)) events.push(event);
      continue;
    }
    if (event.EventType === EventType.EventRaised) {
      events.push(event);
      continue;
    }
    const id = event.EventType === EventType.TimerFired ? event.TimerId : event.TaskScheduledId;
    const belongsHere = message.executionId === state.executionId && id !== undefined && scheduledIds.has(id);
    if (belongsHere && !done.has(id)) {
      done.add(id);
      events.push(limitActivityResult(event, past, limits.maxPayloadBytes));
    }
  }
  const startsExecution = events.some((e) => e.EventType === EventType.ExecutionStarted);
  if (events.length === 0 || (past.length === 0 && !startsExecution)) return undefined;
  const full = [...past, history.orchestratorStarted(now), ...events];
  return {
    now,
    consumed: [...inbox],
    history: full,
    binding: orchestrationBinding({
      history: full,
      inputJson: state.input,
      instanceId: state.instanceId,
      isReplaying: past.length > 0,
      parentInstanceId: state.parent?.instanceId,
    }),
  };
}

export function completeEpisode(
  state: InstanceState,
  prepared: PreparedEpisode,
  outcome: OrchestratorOutcome,
  functions: { activityNames: readonly string[]; orchestratorNames: readonly string[]; entityNames: readonly string[] },
  limits: PayloadLimits = {},
): EpisodeCommit {
  const now = prepared.now;
  const orchestratorState = outcome.state;
  const actions = orchestratorState ? orchestratorState.actions.flat(1) : [];
  const statusJson = orchestratorState?.customStatus !== undefined ? JSON.stringify(orchestratorState.customStatus) : undefined;
  const statusTooLarge = statusJson !== undefined && orchestratorState?.customStatus !== null ? customStatusSizeError(statusJson) : undefined;
  const customStatus = statusJson !== undefined && !statusTooLarge ? statusJson : state.customStatus;
  let failure: string | undefined;
  let newCalls: ScheduledCall[] = [];
  let continueAsNewInput: string | null | undefined;
  let unconsumedEvents: HistoryEvent[] = [];
  const warnings: string[] = [];

  const divergence = orchestratorState ? findDivergence(state.lastActions, actions) : undefined;
  if (divergence) {
    failure = describeDivergence(state.instanceId, state.name, divergence);
  } else if (statusTooLarge) {
    failure = `Orchestrator function '${state.name}' failed: ${statusTooLarge}`;
  } else if (orchestratorState) {
    const replay = replayActions(prepared.history, orchestratorState.actions, {
      instanceId: state.instanceId,
      parentInstanceId: state.parent?.instanceId,
      executionId: state.executionId,
      schemaVersion: orchestratorState.schemaVersion ?? 0,
      maximumShortTimerMs: MAXIMUM_SHORT_TIMER_MS,
      ...functions,
    });
    warnings.push(...replay.warnings);
    newCalls = replay.newCalls;
    continueAsNewInput = replay.continueAsNew?.input;
    unconsumedEvents = replay.unconsumedEvents;
    if (replay.failure) {
      failure = replay.failure.nonDeterministic
        ? replay.failure.message
        : `Orchestrator function '${state.name}' failed: ${replay.failure.message}`;
    }
  }
  if (!failure && outcome.error !== undefined) {
    failure = `Orchestrator function '${state.name}' failed: ${orchestratorState?.error ?? outcome.error}`;
  }
  // The scheduler refuses the whole completion, so nothing of this episode is scheduled.
  const tooLarge = failure ? undefined : oversizedEpisodePayload(newCalls, orchestratorState, continueAsNewInput, limits.maxPayloadBytes);
  if (tooLarge) {
    failure = `Orchestrator function '${state.name}' failed: ${tooLarge}`;
    newCalls = [];
  }

  const appended = newCalls.map((call) => schedulingEvent(now, call));
  let runtimeStatus: RuntimeStatus = 'Running';
  let output = state.output;
  if (failure) {
    runtimeStatus = 'Failed';
    output = JSON.stringify(failure);
    appended.push(history.executionCompleted(now, 'Failed', output));
  } else if (orchestratorState?.isDone && continueAsNewInput !== undefined) {
    runtimeStatus = 'ContinuedAsNew';
    appended.push(history.continueAsNew(now, continueAsNewInput));
  } else if (orchestratorState?.isDone) {
    runtimeStatus = 'Completed';
    output = orchestratorState.output === undefined ? null : JSON.stringify(orchestratorState.output);
    appended.push(history.executionCompleted(now, 'Completed', output));
  }
  appended.push(history.orchestratorCompleted(now));
  return {
    history: [...prepared.history, ...appended],
    runtimeStatus,
    output,
    customStatus,
    lastActions: actions,
    newCalls,
    continueAsNewInput: runtimeStatus === 'ContinuedAsNew' ? continueAsNewInput : undefined,
    lostEvents: runtimeStatus === 'ContinuedAsNew' ? unconsumedEvents : [],
    failure,
    warnings,
  };
}

function isScheduling(e: HistoryEvent): boolean {
  return (
    e.EventType === EventType.TaskScheduled ||
    e.EventType === EventType.TimerCreated ||
    e.EventType === EventType.SubOrchestrationInstanceCreated ||
    e.EventType === EventType.EventSent
  );
}

function schedulingEvent(now: string, call: ScheduledCall): HistoryEvent {
  switch (call.kind) {
    case 'activity':
      return history.taskScheduled(now, call.id, call.name ?? '', call.input ?? null);
    case 'timer':
      return history.timerCreated(now, call.id, call.fireAt ?? now);
    case 'subOrchestration':
      return history.subOrchestrationCreated(now, call.id, call.name ?? '', call.instanceId ?? '', call.input ?? null);
    case 'entity':
      return history.eventSent(now, call.id, call.instanceId ?? '', call.name ?? '', call.input ?? null);
  }
}
