import { ActionType, ReplaySchema, actionTypeName, serializedInput, type ActionJson, type RetryOptionsJson } from './actions';
import { REQUEST_EVENT_NAME, deterministicGuid, entityOfSchedulerId, type RequestMessage } from './entity-messages';
import { EventType, type HistoryEvent } from './history-events';
import { HostTask } from './host-task';
import { nextRetryDelayMs } from './retry-policy';

/**
 * The host's half of an out-of-process orchestration episode. After the JS orchestrator returns
 * its actions, the Durable Task extension replays them through its own orchestration context
 * (OutOfProcOrchestrationShim.ProcessAsyncActionsV2: invoke each action's API and await it, in
 * order) while DurableTask.Core replays the history. Sequence numbers are taken as the APIs are
 * called, retries (RetryInterceptor) add a timer and a new attempt per failure, and each scheduling
 * event already in the history must match the call that took its number, or DurableTask.Core fails
 * the instance as non-deterministic. Calls that have no history event yet are this episode's new
 * work. This module reproduces that replay; it never runs user code.
 */
export interface ScheduledCall {
  id: number;
  /** 'entity': an EventSent carrying a RequestMessage to the entity `instanceId` (call or signal). */
  kind: 'activity' | 'timer' | 'subOrchestration' | 'entity';
  name?: string;
  input?: string | null;
  fireAt?: string;
  instanceId?: string;
}

export interface HostReplayOptions {
  instanceId: string;
  parentInstanceId?: string;
  executionId: string;
  schemaVersion: number;
  /** Longer timers would be split by the extension; the local runtime refuses them (see README). */
  maximumShortTimerMs: number;
  activityNames: readonly string[];
  orchestratorNames: readonly string[];
  entityNames: readonly string[];
}

export interface HostReplayResult {
  newCalls: ScheduledCall[];
  /** Set when the actions include continueAsNew (JSON text of the new input, or null). */
  continueAsNew?: { input: string | null };
  failure?: { nonDeterministic: boolean; message: string };
  warnings: string[];
  /**
   * EventRaised events of the history no waiter took (the extension's bufferedExternalEvents), in
   * history order. At continueAsNew they are lost: the JS SDK cannot ask the extension to
   * re-send them (DurableOrchestrationContext.RescheduleBufferedExternalEvents runs only for
   * ContinueAsNew(input, preserveUnprocessedEvents: true), which the out-of-process shim never
   * passes).
   */
  unconsumedEvents: HistoryEvent[];
}

class ReplayFailure extends Error {
  constructor(message: string, readonly nonDeterministic: boolean) {
    super(message);
  }
}

export function replayActions(
  events: readonly HistoryEvent[],
  actions: ActionJson[][],
  options: HostReplayOptions,
): HostReplayResult {
  const replay = new ShimReplay(actions, options);
  return replay.run(events);
}

class ShimReplay {
  private nextId = 0;
  private readonly calls = new Map<number, ScheduledCall>();
  private readonly recorded = new Set<number>();
  private readonly open = new Map<number, HostTask>();
  private readonly eventWaiters = new Map<string, HostTask[]>();
  /** Per event name, events no waiter took yet, oldest first (the extension keeps a queue per name). */
  private readonly bufferedEvents = new Map<string, HistoryEvent[]>();
  private now = 0;
  private order: readonly HistoryEvent[] = [];
  private failure: ReplayFailure | undefined;
  private continueAsNew: { input: string | null } | undefined;
  private readonly warnings: string[] = [];
  private guidCounter = 0;

  constructor(
    private readonly actions: ActionJson[][],
    private readonly options: HostReplayOptions,
  ) {}

  run(events: readonly HistoryEvent[]): HostReplayResult {
    this.order = events;
    for (const event of events) {
      if (this.failure) break;
      this.guard(() => this.process(event));
    }
    const newCalls = [...this.calls.values()].filter((c) => !this.recorded.has(c.id)).sort((a, b) => a.id - b.id);
    return {
      newCalls: this.failure ? [] : newCalls,
      continueAsNew: this.continueAsNew,
      failure: this.failure ? { nonDeterministic: this.failure.nonDeterministic, message: this.failure.message } : undefined,
      warnings: this.warnings,
      unconsumedEvents: [...this.bufferedEvents.values()].flat().sort((a, b) => this.order.indexOf(a) - this.order.indexOf(b)),
    };
  }

  private guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      if (this.failure) return;
      this.failure = error instanceof ReplayFailure ? error : new ReplayFailure(String((error as Error).message ?? error), false);
    }
  }

  private process(event: HistoryEvent): void {
    switch (event.EventType) {
      case EventType.OrchestratorStarted:
        this.now = Date.parse(event.Timestamp);
        return;
      case EventType.ExecutionStarted:
        this.startDriver();
        return;
      case EventType.TaskScheduled:
        return this.expectCall(event, 'activity');
      case EventType.TimerCreated:
        return this.expectCall(event, 'timer');
      case EventType.SubOrchestrationInstanceCreated:
        return this.expectCall(event, 'subOrchestration');
      case EventType.EventSent:
        return this.expectCall(event, 'entity');
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
        return this.complete(event.TaskScheduledId, true);
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed:
        return this.complete(event.TaskScheduledId, false);
      case EventType.TimerFired:
        return this.complete(event.TimerId, true);
      case EventType.EventRaised:
        return this.raise(event);
      default:
        return;
    }
  }

  // ---- the shim's sequential driver -------------------------------------------------------

  private startDriver(): void {
    const schema = this.options.schemaVersion;
    if (schema === ReplaySchema.V2 || schema === ReplaySchema.V3) {
      if (this.actions.length > 1) {
        throw new ReplayFailure(`With OOProc schema ${schema}, expected actions array to be of length 1 in outer layer but got size: ${this.actions.length}`, false);
      }
      this.runSequentially(this.actions[0] ?? [], (action) => this.invoke(action));
    } else if (schema === ReplaySchema.V1) {
      // Original schema: one set per yield; all of a set are scheduled, then the first to finish resumes.
      this.runSequentially(this.actions, (set) => {
        const tasks = set.filter((a) => a.actionType !== ActionType.ContinueAsNew).map((a) => this.invoke(a));
        set.filter((a) => a.actionType === ActionType.ContinueAsNew).forEach((a) => this.invoke(a));
        return tasks.length > 0 ? HostTask.whenAny(tasks) : HostTask.settled();
      });
    } else {
      throw new ReplayFailure(`The OOProc schema of of version "${schema}" is unsupported by this durable-extension version.`, false);
    }
  }

  /** `foreach (x in items) { try { await invoke(x) } catch { } }` with synchronous continuations. */
  private runSequentially<T>(items: readonly T[], invoke: (item: T) => HostTask): void {
    let index = 0;
    const step = (): void => {
      this.guard(() => {
        while (index < items.length && !this.failure) {
          const task = invoke(items[index++] as T);
          if (!task.isSettled) {
            task.onSettled(step);
            return;
          }
        }
      });
    };
    step();
  }

  private invoke(action: ActionJson): HostTask {
    switch (action.actionType) {
      case ActionType.CallActivity:
        return this.scheduleActivity(action);
      case ActionType.CallActivityWithRetry:
        return this.withRetry(requireRetry(action), () => this.scheduleActivity(action));
      case ActionType.CallSubOrchestrator:
        return this.scheduleSubOrchestration(action);
      case ActionType.CallSubOrchestratorWithRetry:
        return this.withRetry(requireRetry(action), () => this.scheduleSubOrchestration(action));
      case ActionType.ContinueAsNew:
        this.continueAsNew = { input: serializedInput(action) };
        return HostTask.settled();
      case ActionType.CreateTimer:
        return this.createTimerFromAction(action);
      case ActionType.WaitForExternalEvent:
        return this.waitForEvent(action.externalEventName ?? '');
      case ActionType.WhenAll:
        return HostTask.whenAll((action.compoundActions ?? []).map((a) => this.invoke(a)));
      case ActionType.WhenAny:
        return HostTask.whenAny((action.compoundActions ?? []).map((a) => this.invoke(a)));
      case ActionType.CallEntity:
        return this.sendEntityRequest(action, false);
      case ActionType.SignalEntity:
        this.sendEntityRequest(action, true);
        return HostTask.settled();
      case ActionType.ScheduledSignalEntity:
      case ActionType.LockEntities:
      case ActionType.ReleaseEntities:
      case ActionType.CallHttp:
        throw new ReplayFailure(`${actionTypeName(action.actionType)} is not supported by the local runtime.`, false);
      default:
        throw new ReplayFailure(`Received an unexpected action type from the out-of-proc function: '${String(action.actionType)}'.`, false);
    }
  }

  private scheduleActivity(action: ActionJson): HostTask {
    const name = action.functionName ?? '';
    if (!this.options.activityNames.includes(name)) throw new ReplayFailure(unknownFunction(name, 'activity', this.options.activityNames), false);
    return this.allocate({ kind: 'activity', name, input: serializedInput(action) });
  }

  private scheduleSubOrchestration(action: ActionJson): HostTask {
    const name = action.functionName ?? '';
    if (!this.options.orchestratorNames.includes(name)) {
      throw new ReplayFailure(unknownFunction(name, 'orchestrator', this.options.orchestratorNames), false);
    }
    const requested = action.instanceId;
    const sameAs = (other: string | undefined): boolean => !!other && requested?.toLowerCase() === other.toLowerCase();
    if (sameAs(this.options.instanceId) || sameAs(this.options.parentInstanceId)) {
      throw new ReplayFailure('The instance ID of a sub-orchestration must be different than the instance ID of a parent orchestration.', false);
    }
    const id = this.nextId;
    // DurableTask.Core TaskOrchestrationContext.CreateSubOrchestrationInstanceCore default id.
    const instanceId = requested && requested.trim() !== '' ? requested : `${this.options.executionId}:${id}`;
    return this.allocate({ kind: 'subOrchestration', name, instanceId, input: serializedInput(action) });
  }

  /**
   * DurableOrchestrationContext.CallDurableTaskFunctionAsync for FunctionType.Entity: a request id
   * from NewGuid, an EventSent named "op" to the entity (it takes a sequence number, which
   * durable-functions counts too), and for a call a wait for the external event named after the
   * request id (WaitForEntityResponse), which the entity raises with its ResponseMessage.
   */
  private sendEntityRequest(action: ActionJson, signal: boolean): HostTask {
    const target = action.instanceId ?? '';
    const entity = entityOfSchedulerId(target);
    if (!entity) throw new ReplayFailure(`'${target}' is not a valid entity id.`, false);
    if (!this.options.entityNames.some((n) => n.toLowerCase() === entity.name.toLowerCase())) {
      throw new ReplayFailure(unknownFunction(entity.name, 'entity', this.options.entityNames), false);
    }
    const operation = typeof action.operation === 'string' ? action.operation : '';
    const request: RequestMessage = {
      op: operation,
      ...(signal ? { signal: true } : {}),
      ...(action.input === undefined || action.input === null ? {} : { input: JSON.stringify(action.input) }),
      id: deterministicGuid(this.options.instanceId, new Date(this.now).toISOString(), this.guidCounter++),
      parent: this.options.instanceId,
      parentExecution: this.options.executionId,
    };
    this.record({ kind: 'entity', name: REQUEST_EVENT_NAME, instanceId: target, input: JSON.stringify(request) });
    return signal ? HostTask.settled() : this.waitForEvent(request.id);
  }

  private createTimerFromAction(action: ActionJson): HostTask {
    const fireAt = Date.parse(action.fireAt ?? '');
    if (Number.isNaN(fireAt)) throw new ReplayFailure(`CreateTimer action has an invalid fireAt: ${String(action.fireAt)}`, false);
    if (fireAt - this.now > this.options.maximumShortTimerMs) {
      throw new ReplayFailure(
        `Durable timers longer than ${this.options.maximumShortTimerMs} ms (the storage provider's maximum short timer) are not supported by the local runtime.`,
        false,
      );
    }
    const task = this.createTimer(fireAt);
    // The shim cancels the timer's token at once when the SDK marked it canceled: the awaited task
    // ends (canceled) but the timer keeps its sequence number and still fires later.
    if (action.isCanceled) {
      this.openTaskIds(task).forEach((id) => this.open.delete(id));
      task.settle(false);
    }
    return task;
  }

  private openTaskIds(task: HostTask): number[] {
    return [...this.open.entries()].filter(([, t]) => t === task).map(([id]) => id);
  }

  private createTimer(fireAtMs: number): HostTask {
    return this.allocate({ kind: 'timer', fireAt: new Date(fireAtMs).toISOString() });
  }

  private allocate(call: Omit<ScheduledCall, 'id'>): HostTask {
    const task = new HostTask();
    this.open.set(this.record(call), task);
    return task;
  }

  /** Takes the next sequence number for a call. */
  private record(call: Omit<ScheduledCall, 'id'>): number {
    const id = this.nextId++;
    this.calls.set(id, { id, ...call });
    return id;
  }

  /** DurableTask.Core RetryInterceptor.Invoke, attempt by attempt. */
  private withRetry(options: RetryOptionsJson, attemptOnce: () => HostTask): HostTask {
    const result = new HostTask();
    const firstAttempt = this.now;
    const attempt = (retryCount: number): void => {
      if (retryCount >= options.maxNumberOfAttempts) return result.settle(false);
      const call = attemptOnce();
      call.onSettled(() => {
        if (call.succeeded) return result.settle(true);
        const delay = nextRetryDelayMs(options, retryCount, firstAttempt, this.now);
        if (delay <= 0) {
          this.warnings.push(
            'retry timeout elapsed: the host gives up without a retry timer, while durable-functions (JS) waits for one; ' +
              'in Azure this orchestration would stay Running',
          );
          return result.settle(false);
        }
        this.createTimer(this.now + delay).onSettled(() => attempt(retryCount + 1));
      });
    };
    attempt(0);
    return result;
  }

  private waitForEvent(name: string): HostTask {
    const task = new HostTask();
    const buffered = this.bufferedEvents.get(name);
    if (buffered?.length) {
      buffered.shift();
      task.settle(true);
      return task;
    }
    // The extension keeps waiters per name on a stack: the newest waiter receives the next event.
    const waiters = this.eventWaiters.get(name) ?? [];
    waiters.push(task);
    this.eventWaiters.set(name, waiters);
    return task;
  }

  private raise(event: HistoryEvent): void {
    const name = event.Name ?? '';
    const waiter = this.eventWaiters.get(name)?.pop();
    if (waiter) return waiter.settle(true);
    const buffered = this.bufferedEvents.get(name) ?? [];
    buffered.push(event);
    this.bufferedEvents.set(name, buffered);
  }

  // ---- history matching -------------------------------------------------------------------

  private expectCall(event: HistoryEvent, kind: ScheduledCall['kind']): void {
    const id = event.EventId;
    const call = this.calls.get(id);
    const what = { activity: 'an activity task', timer: 'a timer task', subOrchestration: 'a sub-orchestration task', entity: 'a send event task' }[kind];
    const named = event.Name ? ` named '${event.Name}'` : '';
    if (!call) {
      throw new ReplayFailure(
        `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled ${what} with sequence ID ${id}${named}, ` +
          "but the current replay execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator code after this instance had already started running?",
        true,
      );
    }
    if (call.kind !== kind) {
      throw new ReplayFailure(
        `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled ${what} with sequence number ${id}${named}, ` +
          `but the current orchestration replay instead produced a ${call.kind} call with this sequence number.`,
        true,
      );
    }
    if (event.Name !== undefined && (call.name ?? '').toLowerCase() !== event.Name.toLowerCase()) {
      throw new ReplayFailure(
        `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled ${what} with sequence number ${id}${named}, ` +
          `but the current orchestration replay instead scheduled one named '${call.name ?? ''}' with this sequence number.`,
        true,
      );
    }
    if (kind === 'entity' && event.InstanceId !== undefined && event.InstanceId !== call.instanceId) {
      throw new ReplayFailure(
        `Non-Deterministic workflow detected: A previous execution of this orchestration sent an event with sequence number ${id} to '${event.InstanceId}', ` +
          `but the current orchestration replay instead sent one to '${call.instanceId ?? ''}'.`,
        true,
      );
    }
    this.recorded.add(id);
  }

  private complete(id: number | undefined, succeeded: boolean): void {
    if (id === undefined) return;
    const task = this.open.get(id);
    if (!task) return;
    this.open.delete(id);
    task.settle(succeeded);
  }
}

function requireRetry(action: ActionJson): RetryOptionsJson {
  const options = action.retryOptions;
  if (!options || typeof options.firstRetryIntervalInMilliseconds !== 'number' || typeof options.maxNumberOfAttempts !== 'number') {
    throw new ReplayFailure('Invalid JSON. Must contain fields firstRetryIntervalInMilliseconds and maxNumberOfAttempts', false);
  }
  return options;
}

function unknownFunction(name: string, kind: 'activity' | 'orchestrator' | 'entity', known: readonly string[]): string {
  const info = known.length > 0
    ? `The following are the known ${kind} functions: '${known.join("', '")}'.`
    : `No ${kind} functions are currently registered!`;
  return `The function '${name}' doesn't exist, is disabled, or is not ${kind === 'entity' ? 'an entity' : kind === 'activity' ? 'an activity' : 'an orchestrator'} function. Additional info: ${info}`;
}
