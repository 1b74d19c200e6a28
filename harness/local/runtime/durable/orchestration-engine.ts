import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock, ClockTimer } from '../clock';
import { functionTimeoutMessage, type FunctionTimeout } from '../host/function-timeout';
import type { RuntimeLog } from '../log';
import type { DispatchLatency } from './dispatch-latency';
import type { RequestMessage } from './entity-messages';
import { completeEpisode, prepareEpisode, type OrchestratorOutcome } from './episode';
import { InvalidInstanceIdError, OrchestrationAlreadyExistsError, RuntimeStoppedError, UnknownOrchestratorError } from './errors';
import { EventType, completedTaskIds, history, type HistoryEvent, type ParentRef } from './history-events';
import type { ScheduledCall } from './host-replay';
import { cloneState, isTerminal, type InboxMessage, type InstanceState, type RuntimeStatus } from './instance-state';
import type { InstanceStore } from './instance-store';
import type { OrchestrationBinding } from './orchestration-binding';

/**
 * The durable side of the local host: instance state, message delivery, episodes (one at a time
 * per instance, like a DurableTask.Core orchestration session), and dispatch of the work an episode
 * schedules (activities, durable timers on the clock, sub-orchestrations). Every state change is
 * written to the store before the work it implies is dispatched, so a new engine on the same state
 * directory can pick an unfinished instance up from its history: it re-runs pending activities
 * (activities must be idempotent, as in Azure), re-arms pending timers and delivers what is waiting.
 */
export type ActivityOutcome = { ok: true; result: string | null } | { ok: false; reason: string; details: string };

export interface EngineDeps {
  store: InstanceStore;
  clock: Clock;
  log: RuntimeLog;
  orchestratorNames(): string[];
  activityNames(): string[];
  entityNames(): string[];
  /** Where orchestrations' entity requests go (the entity scheduler). */
  deliverToEntity(schedulerId: string, request: RequestMessage): void;
  runOrchestrator(name: string, binding: OrchestrationBinding): Promise<OrchestratorOutcome>;
  runActivity(name: string, input: string | null, instanceId: string, taskId: number): Promise<ActivityOutcome>;
  /** host.json functionTimeout: an activity attempt still running then fails, as in Azure. */
  functionTimeout: FunctionTimeout;
  /** The backend's dispatch latency and cold starts (dispatch-latency.ts); work starts at once without it. */
  dispatch?: DispatchLatency;
  /** The backend's payload limit (Durable Task Scheduler: 1 MB, payload-limit.ts); none without it. */
  maxPayloadBytes?: number;
}

export interface InstanceFilter {
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  runtimeStatus?: RuntimeStatus[];
  instanceIdPrefix?: string;
}

export type ClientOperationResult = 'accepted' | 'notFound' | 'gone';

const MAX_INSTANCE_ID_LENGTH = 256;
/** An Azure Storage table read, then the queue and table writes: tens of milliseconds. */
const STATUS_READ_TO_WRITE_MS = 20;
/** The change channel every instance's changes are also emitted on. */
const ANY_INSTANCE = Symbol('any instance');

export class OrchestrationEngine {
  private readonly states = new Map<string, InstanceState>();
  private readonly timers = new Map<string, Map<number, ClockTimer>>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly changes = new EventEmitter();
  private readonly held = new Set<string>();
  private startGate: StartGate | undefined;
  private stopped = false;

  constructor(private readonly deps: EngineDeps) {
    this.changes.setMaxListeners(0);
  }

  /** Loads the state directory and resumes every unfinished instance. */
  start(): void {
    for (const state of this.deps.store.loadAll()) this.states.set(state.instanceId, state);
    for (const state of this.states.values()) {
      if (isTerminal(state.runtimeStatus)) continue;
      this.deps.log.info('instance.resumed', { instanceId: state.instanceId, name: state.name, status: state.runtimeStatus });
      this.resumePendingWork(state);
      this.schedule(state.instanceId);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.dispatch?.release();
    for (const byId of this.timers.values()) for (const timer of byId.values()) timer.cancel();
    this.timers.clear();
    await Promise.allSettled([...this.running.values(), ...this.inflight]);
  }

  // ---- client operations (what the Durable Task HTTP API exposes) --------------------------

  /**
   * Not atomic, as on the Azure Storage provider (the singleton docs page; Azure/durabletask PR 528):
   * the existing instance's status is read, and the new instance written a storage round trip
   * later. Two starts of one id that overlap both pass the check and both succeed; the first
   * write's execution runs, and the second ExecutionStarted reaches a running instance and is
   * discarded by the dispatcher, so the second caller's input never runs.
   */
  async startNew(name: string, requestedId: string | undefined, inputJson: string | null): Promise<string> {
    this.assertRunning();
    const known = this.deps.orchestratorNames();
    if (!known.includes(name)) {
      const info = known.length > 0 ? `The following are the known orchestrator functions: '${known.join("', '")}'.` : 'No orchestrator functions are currently registered!';
      throw new UnknownOrchestratorError(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function. Additional info: ${info}`);
    }
    const instanceId = requestedId && requestedId !== '' ? requestedId : randomUUID().replace(/-/g, '');
    validateInstanceId(instanceId);
    const existing = this.states.get(instanceId);
    // The extension's default OverridableExistingInstanceStates = NonRunningStates: dedupe on
    // Running/ContinuedAsNew/Pending/Suspended; a finished instance is replaced.
    if (existing && ['Running', 'ContinuedAsNew', 'Pending', 'Suspended'].includes(existing.runtimeStatus)) {
      throw new OrchestrationAlreadyExistsError(`An Orchestration instance with the status ${existing.runtimeStatus} already exists.`);
    }
    await this.statusReadToWrite();
    this.assertRunning();
    const now = this.states.get(instanceId);
    if (now && now !== existing && !isTerminal(now.runtimeStatus)) {
      this.deps.log.warn('instance.duplicateStartDiscarded', { instanceId, name, reason: 'another start of this id wrote first; its execution runs' });
      return instanceId;
    }
    this.createInstance({ instanceId, name, inputJson });
    return instanceId;
  }

  /**
   * Holds every start between its status read and its write until `release()`: what a slow storage
   * round trip does to starts that overlap. `whenWaiting(n)` resolves once n starts are held.
   */
  holdStarts(): { whenWaiting(count: number): Promise<void>; release(): void } {
    const gate = new StartGate();
    this.startGate = gate;
    return {
      whenWaiting: (count) => gate.whenWaiting(count),
      release: () => {
        if (this.startGate === gate) this.startGate = undefined;
        gate.release();
      },
    };
  }

  private statusReadToWrite(): Promise<void> {
    if (this.startGate) return this.startGate.hold();
    return new Promise((resolve) => setTimeout(resolve, STATUS_READ_TO_WRITE_MS));
  }

  raiseEvent(instanceId: string, eventName: string, inputJson: string | null): ClientOperationResult {
    this.assertRunning();
    const state = this.states.get(instanceId);
    if (!state) return 'notFound';
    if (isTerminal(state.runtimeStatus)) return 'gone';
    this.deliver(instanceId, { event: history.eventRaised(this.nowIso(), eventName, inputJson) });
    return 'accepted';
  }

  terminate(instanceId: string, reason: string | null): ClientOperationResult {
    this.assertRunning();
    const state = this.states.get(instanceId);
    if (!state) return 'notFound';
    if (isTerminal(state.runtimeStatus)) return 'gone';
    this.deliver(instanceId, { event: history.executionTerminated(this.nowIso(), reason) });
    return 'accepted';
  }

  /**
   * Holds the instance's episodes until the returned function is called: messages keep arriving in
   * its inbox and are then delivered together, as one batch — what a busy or slow worker does to
   * messages that queue up meanwhile. For tests that need two events in one batch.
   */
  holdEpisodes(instanceId: string): () => void {
    this.held.add(instanceId);
    return () => {
      if (this.held.delete(instanceId)) this.schedule(instanceId);
    };
  }

  purge(instanceId: string): boolean {
    this.assertRunning();
    if (!this.states.has(instanceId)) return false;
    this.cancelTimers(instanceId);
    this.states.delete(instanceId);
    this.deps.store.delete(instanceId);
    this.deps.log.info('instance.purged', { instanceId });
    this.changes.emit(instanceId);
    this.changes.emit(ANY_INSTANCE, instanceId);
    return true;
  }

  get(instanceId: string): InstanceState | undefined {
    const state = this.states.get(instanceId);
    return state ? cloneState(state) : undefined;
  }

  list(filter: InstanceFilter = {}): InstanceState[] {
    return [...this.states.values()].filter((s) => matches(s, filter)).map(cloneState);
  }

  /** Resolves when `predicate` holds for the instance (default: a terminal status); no polling. */
  waitFor(
    instanceId: string,
    options: { timeoutMs: number; until?: (state: InstanceState | undefined) => boolean },
  ): Promise<InstanceState | undefined> {
    const until = options.until ?? ((s: InstanceState | undefined) => s !== undefined && isTerminal(s.runtimeStatus));
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const state = this.get(instanceId);
        if (!until(state)) return false;
        cleanup();
        resolve(state);
        return true;
      };
      const timeout = setTimeout(() => {
        cleanup();
        const state = this.states.get(instanceId);
        reject(new Error(`timed out after ${options.timeoutMs} ms waiting for instance '${instanceId}' (status: ${state?.runtimeStatus ?? 'unknown'})`));
      }, options.timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timeout);
        this.changes.off(instanceId, check);
      };
      this.changes.on(instanceId, check);
      check();
    });
  }

  /**
   * Resolves with the first instance for which `until` holds, checked on every change of any
   * instance (and once at once); for a test that must act on an instance whose id it learns later.
   */
  waitForAny(options: { timeoutMs: number; until: (state: InstanceState) => boolean }): Promise<InstanceState> {
    return new Promise((resolve, reject) => {
      const check = (instanceId: string): boolean => {
        const state = this.get(instanceId);
        if (!state || !options.until(state)) return false;
        cleanup();
        resolve(state);
        return true;
      };
      const timeout = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${options.timeoutMs} ms waiting for any instance to match`));
      }, options.timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timeout);
        this.changes.off(ANY_INSTANCE, check);
      };
      this.changes.on(ANY_INSTANCE, check);
      [...this.states.keys()].some(check);
    });
  }

  // ---- delivery and episodes ---------------------------------------------------------------

  private createInstance(init: { instanceId: string; name: string; inputJson: string | null; parent?: ParentRef }): void {
    this.cancelTimers(init.instanceId);
    const now = this.nowIso();
    const executionId = randomUUID().replace(/-/g, '');
    const state: InstanceState = {
      instanceId: init.instanceId,
      name: init.name,
      executionId,
      runtimeStatus: 'Pending',
      input: init.inputJson,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      parent: init.parent,
      history: [],
      inbox: [{ event: startEvent(now, init.name, init.inputJson, init.instanceId, executionId, init.parent), executionId }],
      lastActions: [],
      episodes: 0,
    };
    this.states.set(init.instanceId, state);
    this.commit(state);
    this.deps.log.info('instance.created', { instanceId: init.instanceId, name: init.name, parentInstanceId: init.parent?.instanceId });
    this.schedule(init.instanceId);
  }

  private deliver(instanceId: string, message: InboxMessage): void {
    if (this.stopped) return;
    const state = this.states.get(instanceId);
    if (!state || isTerminal(state.runtimeStatus)) {
      this.deps.log.debug('message.dropped', { instanceId, eventType: message.event.EventType, reason: state ? state.runtimeStatus : 'no such instance' });
      return;
    }
    state.inbox.push(message);
    this.commit(state);
    this.schedule(instanceId);
  }

  private schedule(instanceId: string): void {
    if (this.stopped || this.running.has(instanceId) || this.held.has(instanceId)) return;
    const loop = (async () => {
      const waiting = this.states.get(instanceId);
      await (this.deps.dispatch && waiting ? this.deps.dispatch.beforeEpisode(waiting) : new Promise<void>((resolve) => setImmediate(resolve)));
      for (;;) {
        const state = this.states.get(instanceId);
        if (this.stopped || this.held.has(instanceId) || !state || state.inbox.length === 0) break;
        await this.runEpisode(state);
      }
    })()
      .catch((error: unknown) => this.deps.log.error('episode.crashed', { instanceId, error }))
      .finally(() => {
        this.running.delete(instanceId);
        const state = this.states.get(instanceId);
        if (!this.stopped && state && state.inbox.length > 0) this.schedule(instanceId);
      });
    this.running.set(instanceId, loop);
  }

  private async runEpisode(state: InstanceState): Promise<void> {
    const now = this.nowIso();
    if (isTerminal(state.runtimeStatus)) {
      state.inbox = [];
      this.commit(state);
      return;
    }
    const terminate = state.inbox.find((m) => m.event.EventType === EventType.ExecutionTerminated);
    if (terminate) return this.applyTermination(state, terminate.event.Input ?? null, now);

    // DurableTask.Core runs a continued-as-new execution's first episode at once, in the work item
    // that ended the previous one (TaskOrchestrationDispatcher.OnProcessWorkItemAsync,
    // `do { … } while (continuedAsNew)`), with nothing but its ExecutionStarted: messages that
    // arrived meanwhile come in the next batch.
    const batch = startsContinuedExecution(state) ? state.inbox.slice(0, 1) : state.inbox;
    const prepared = prepareEpisode(state, batch, now, { maxPayloadBytes: this.deps.maxPayloadBytes });
    if (!prepared) {
      state.inbox = state.inbox.filter((m) => !batch.includes(m));
      this.commit(state);
      return;
    }
    let outcome: OrchestratorOutcome;
    try {
      outcome = await this.deps.runOrchestrator(state.name, prepared.binding);
    } catch (error) {
      outcome = { error: error instanceof Error ? error.message : String(error) };
    }
    if (this.stopped || this.states.get(state.instanceId) !== state) return;
    const commit = completeEpisode(state, prepared, outcome, {
      activityNames: this.deps.activityNames(),
      orchestratorNames: this.deps.orchestratorNames(),
      entityNames: this.deps.entityNames(),
    }, { maxPayloadBytes: this.deps.maxPayloadBytes });
    state.history = commit.history;
    state.inbox = state.inbox.filter((m) => !prepared.consumed.includes(m));
    state.lastActions = commit.lastActions;
    state.runtimeStatus = commit.runtimeStatus;
    state.output = commit.output;
    state.customStatus = commit.customStatus;
    state.lastUpdatedTime = now;
    state.episodes += 1;
    this.commit(state);
    this.deps.log.info('episode.completed', {
      instanceId: state.instanceId,
      name: state.name,
      episode: state.episodes,
      status: state.runtimeStatus,
      scheduled: commit.newCalls.map((c) => `${c.kind}#${c.id}${c.name ? `:${c.name}` : ''}`),
    });
    for (const warning of commit.warnings) this.deps.log.warn('episode.warning', { instanceId: state.instanceId, warning });
    for (const lost of commit.lostEvents) {
      this.deps.log.warn('event.lostAtContinueAsNew', { instanceId: state.instanceId, executionId: state.executionId, name: lost.Name, raisedAt: lost.Timestamp });
    }
    if (commit.failure) this.deps.log.error('instance.failed', { instanceId: state.instanceId, name: state.name, reason: commit.failure });

    const terminal = isTerminal(state.runtimeStatus);
    for (const call of commit.newCalls) if (!(terminal && call.kind === 'timer')) this.dispatch(state, call);
    if (terminal) this.onTerminal(state);
    if (state.runtimeStatus === 'ContinuedAsNew') this.continueAsNew(state, commit.continueAsNewInput ?? null);
  }

  private applyTermination(state: InstanceState, reason: string | null, now: string): void {
    state.history = [
      ...state.history.map((e) => ({ ...e, IsPlayed: true })),
      history.orchestratorStarted(now),
      history.executionTerminated(now, reason),
      history.executionCompleted(now, 'Terminated', reason),
      history.orchestratorCompleted(now),
    ];
    state.inbox = [];
    state.runtimeStatus = 'Terminated';
    state.output = reason === null ? null : JSON.stringify(reason);
    state.lastUpdatedTime = now;
    this.commit(state);
    this.deps.log.info('instance.terminated', { instanceId: state.instanceId, reason });
    this.onTerminal(state);
  }

  /**
   * ContinueAsNew ends this execution; the next starts from scratch with the new input. External
   * events delivered into the ending execution's history and not taken by a waiter are lost with
   * it (logged by runEpisode): the JS SDK has no "preserve unprocessed events", and DurableTask.Core
   * starts the new execution with its ExecutionStarted and the action's CarryoverEvents only, which
   * the out-of-process shim never sets. Events still queued — raised while the last episode ran —
   * were never delivered to it: raised events carry no execution id (DurableClient clears it "to
   * avoid sending messages to an expired ContinueAsNew instance"), so DurableTask.Core and the
   * Azure Storage session manager hand them to whichever execution is current, the new one, after
   * its first episode (see runEpisode).
   */
  private continueAsNew(state: InstanceState, inputJson: string | null): void {
    const now = this.nowIso();
    this.cancelTimers(state.instanceId);
    state.executionId = randomUUID().replace(/-/g, '');
    state.history = [];
    state.lastActions = [];
    state.input = inputJson;
    state.output = null;
    state.customStatus = null;
    // Queued external events carry over (they target the instance, not the execution); task and
    // timer completions belong to the old execution and are dropped.
    state.inbox = [
      { event: startEvent(now, state.name, inputJson, state.instanceId, state.executionId, state.parent), executionId: state.executionId },
      ...state.inbox.filter((m) => m.event.EventType === EventType.EventRaised),
    ];
    this.commit(state);
    this.deps.log.info('instance.continuedAsNew', { instanceId: state.instanceId, executionId: state.executionId, queuedEvents: state.inbox.length - 1 });
  }

  private onTerminal(state: InstanceState): void {
    this.cancelTimers(state.instanceId);
    const parent = state.parent;
    if (!parent) return;
    const now = this.nowIso();
    const event =
      state.runtimeStatus === 'Completed'
        ? history.subOrchestrationCompleted(now, parent.taskScheduledId, state.output)
        : history.subOrchestrationFailed(
            now,
            parent.taskScheduledId,
            failureReason(state),
            JSON.stringify({ instanceId: state.instanceId, runtimeStatus: state.runtimeStatus }),
          );
    this.deliver(parent.instanceId, { event, executionId: parent.executionId });
  }

  // ---- dispatching work ------------------------------------------------------------------------

  private dispatch(state: InstanceState, call: ScheduledCall): void {
    switch (call.kind) {
      case 'activity':
        return this.runActivity(state.instanceId, state.executionId, call);
      case 'timer':
        return this.armTimer(state.instanceId, state.executionId, call.id, call.fireAt ?? this.nowIso());
      case 'subOrchestration':
        return this.startChild(state, call);
      case 'entity':
        return this.deps.deliverToEntity(call.instanceId ?? '', JSON.parse(call.input ?? 'null') as RequestMessage);
    }
  }

  private runActivity(instanceId: string, executionId: string, call: ScheduledCall): void {
    const name = call.name ?? '';
    // The function timeout runs from the start, after the backend's dispatch latency.
    const start = (): Promise<ActivityOutcome> => {
      this.deps.log.info('activity.started', { instanceId, taskId: call.id, name });
      return this.withinFunctionTimeout(name, this.deps.runActivity(name, call.input ?? null, instanceId, call.id));
    };
    const work = (this.deps.dispatch ? this.deps.dispatch.runActivity(instanceId, start) : start())
      .catch((error: unknown): ActivityOutcome => ({ ok: false, reason: `Activity function '${name}' failed: ${String(error)}`, details: '{}' }))
      .then((outcome) => {
        this.inflight.delete(work);
        const now = this.nowIso();
        this.deps.log.info('activity.completed', { instanceId, taskId: call.id, name, ok: outcome.ok, ...(outcome.ok ? {} : { reason: outcome.reason }) });
        const event = outcome.ok
          ? history.taskCompleted(now, call.id, outcome.result)
          : history.taskFailed(now, call.id, outcome.reason, outcome.details);
        this.deliver(instanceId, { event, executionId });
      })
      .catch((error: unknown) => this.deps.log.error('activity.deliveryFailed', { instanceId, taskId: call.id, error }));
    this.inflight.add(work);
  }

  /**
   * The attempt fails once functionTimeout has passed; the activity's own promise is left to
   * settle unobserved, as the worker cannot stop the code it runs.
   */
  private withinFunctionTimeout(name: string, attempt: Promise<ActivityOutcome>): Promise<ActivityOutcome> {
    const timeout = this.deps.functionTimeout;
    let timer: ClockTimer | undefined;
    const expired = new Promise<ActivityOutcome>((resolve) => {
      timer = this.deps.clock.schedule(this.deps.clock.now() + timeout.ms, () => {
        this.deps.log.warn('activity.timedOut', { name, functionTimeout: timeout.text });
        resolve({ ok: false, reason: `Activity function '${name}' failed: ${functionTimeoutMessage(timeout, name)}`, details: '{}' });
      });
    });
    attempt.catch(() => undefined);
    return Promise.race([attempt, expired]).finally(() => timer?.cancel());
  }

  private armTimer(instanceId: string, executionId: string, timerId: number, fireAt: string): void {
    if (this.stopped) return;
    const byId = this.timers.get(instanceId) ?? new Map<number, ClockTimer>();
    this.timers.set(instanceId, byId);
    byId.get(timerId)?.cancel();
    byId.set(
      timerId,
      this.deps.clock.schedule(Date.parse(fireAt), () => {
        byId.delete(timerId);
        this.deps.log.info('timer.fired', { instanceId, timerId, fireAt });
        try {
          this.deliver(instanceId, { event: history.timerFired(this.nowIso(), timerId, fireAt), executionId });
        } catch (error) {
          this.deps.log.error('timer.deliveryFailed', { instanceId, timerId, error });
        }
      }),
    );
  }

  private startChild(parent: InstanceState, call: ScheduledCall): void {
    const instanceId = call.instanceId ?? '';
    const existing = this.states.get(instanceId);
    if (existing && !isTerminal(existing.runtimeStatus)) {
      const reason = `An Orchestration instance with the status ${existing.runtimeStatus} already exists.`;
      this.deliver(parent.instanceId, { event: history.subOrchestrationFailed(this.nowIso(), call.id, reason, '{}'), executionId: parent.executionId });
      return;
    }
    this.createInstance({
      instanceId,
      name: call.name ?? '',
      inputJson: call.input ?? null,
      parent: { instanceId: parent.instanceId, executionId: parent.executionId, taskScheduledId: call.id, name: parent.name },
    });
  }

  /** After a restart: everything scheduled in the history whose outcome is not known yet. */
  private resumePendingWork(state: InstanceState): void {
    const known = completedTaskIds([...state.history, ...state.inbox.filter((m) => m.executionId === state.executionId).map((m) => m.event)]);
    for (const event of state.history) {
      if (known.has(event.EventId)) continue;
      if (event.EventType === EventType.TaskScheduled) {
        this.runActivity(state.instanceId, state.executionId, { id: event.EventId, kind: 'activity', name: event.Name, input: event.Input ?? null });
      } else if (event.EventType === EventType.TimerCreated) {
        this.armTimer(state.instanceId, state.executionId, event.EventId, event.FireAt ?? event.Timestamp);
      } else if (event.EventType === EventType.SubOrchestrationInstanceCreated) {
        this.resumeChild(state, event);
      } else if (event.EventType === EventType.EventSent) {
        // The entity drops a request it has already queued or handled (same request id).
        this.deps.deliverToEntity(event.InstanceId ?? '', JSON.parse(event.Input ?? 'null') as RequestMessage);
      }
    }
  }

  private resumeChild(parent: InstanceState, created: HistoryEvent): void {
    const child = this.states.get(created.InstanceId ?? '');
    const ours = child?.parent?.instanceId === parent.instanceId && child.parent.executionId === parent.executionId && child.parent.taskScheduledId === created.EventId;
    if (!child) {
      this.startChild(parent, { id: created.EventId, kind: 'subOrchestration', name: created.Name, instanceId: created.InstanceId, input: created.Input ?? null });
    } else if (ours && isTerminal(child.runtimeStatus)) {
      this.onTerminal(child);
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private commit(state: InstanceState): void {
    if (this.stopped) return;
    this.deps.store.save(state);
    this.changes.emit(state.instanceId);
    this.changes.emit(ANY_INSTANCE, state.instanceId);
  }

  private cancelTimers(instanceId: string): void {
    for (const timer of this.timers.get(instanceId)?.values() ?? []) timer.cancel();
    this.timers.delete(instanceId);
  }

  private nowIso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  private assertRunning(): void {
    if (this.stopped) throw new RuntimeStoppedError();
  }
}

class StartGate {
  private readonly held: Array<() => void> = [];
  private readonly watchers: Array<{ count: number; resolve: () => void }> = [];

  hold(): Promise<void> {
    return new Promise((resolve) => {
      this.held.push(resolve);
      for (const w of this.watchers.filter((x) => this.held.length >= x.count)) w.resolve();
    });
  }

  whenWaiting(count: number): Promise<void> {
    if (this.held.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ count, resolve }));
  }

  release(): void {
    this.held.splice(0).forEach((go) => go());
  }
}

function startEvent(now: string, name: string, input: string | null, instanceId: string, executionId: string, parent?: ParentRef): HistoryEvent {
  return history.executionStarted(now, { name, input, instanceId, executionId, parent });
}

/** A continued-as-new execution that has not run yet (a new instance has had no episode). */
function startsContinuedExecution(state: InstanceState): boolean {
  return state.history.length === 0 && state.episodes > 0 && state.inbox[0]?.event.EventType === EventType.ExecutionStarted;
}

function failureReason(state: InstanceState): string {
  const output = state.output === null ? null : (JSON.parse(state.output) as unknown);
  if (state.runtimeStatus === 'Terminated') return `Orchestration instance '${state.instanceId}' was terminated: ${String(output ?? '')}`;
  return typeof output === 'string' ? output : `Orchestration instance '${state.instanceId}' ended ${state.runtimeStatus}`;
}

function validateInstanceId(instanceId: string): void {
  if (instanceId.startsWith('@')) throw new InvalidInstanceIdError('Orchestration instance ids must not start with @.');
  // eslint-disable-next-line no-control-regex
  if (/[/\\?#\u0000-\u001f\u007f]/.test(instanceId)) throw new InvalidInstanceIdError('Orchestration instance ids must not contain /, \\, #, ?, or control characters.');
  if (instanceId.length > MAX_INSTANCE_ID_LENGTH) throw new InvalidInstanceIdError(`Instance ID lengths must not exceed ${MAX_INSTANCE_ID_LENGTH} characters.`);
}

function matches(state: InstanceState, filter: InstanceFilter): boolean {
  const created = Date.parse(state.createdTime);
  if (filter.createdTimeFrom && created < filter.createdTimeFrom.getTime()) return false;
  if (filter.createdTimeTo && created > filter.createdTimeTo.getTime()) return false;
  if (filter.runtimeStatus?.length && !filter.runtimeStatus.includes(state.runtimeStatus)) return false;
  if (filter.instanceIdPrefix && !state.instanceId.startsWith(filter.instanceIdPrefix)) return false;
  return true;
}
