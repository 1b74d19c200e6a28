import type { Clock, ClockTimer } from '../clock';
import type { DurableBackend } from '../host/durable-backend';
import type { RuntimeLog } from '../log';
import { RuntimeStoppedError } from './errors';
import { EventType } from './history-events';
import type { InboxMessage, InstanceState } from './instance-state';

/**
 * How long the Durable backend takes to hand work to the worker: every orchestration episode after
 * a message, every activity start, every timer firing and every event delivery waits for it in
 * Azure. The engine asks this model before it runs an episode (OrchestrationEngine.schedule) and
 * before it starts an activity (runActivity); timers and events reach the engine as inbox messages,
 * so their wait is the episode's. All waits run on the runtime's Clock (a ManualClock makes them
 * deterministic) and are released at once when the engine stops.
 *
 * Backends (which one: host.json storageProvider.type, see host/durable-backend.ts):
 * - Azure Storage (DurableTask.AzureStorage): each queue is polled by a BackoffPollingHelper
 *   (TaskHubQueue: minimum 50 ms, maximum `maxQueuePollingInterval`): an empty poll waits
 *   min + min·2^(k−2) (RandomizedExponentialBackoffStrategy, its ±20 % randomisation taken at its
 *   mean), capped at the maximum; a message found resets the wait to the minimum. A message the
 *   worker itself enqueues wakes its own poller at once (TaskHubQueue.AddMessageAsync: "Wake up the
 *   queue polling thread", `backoffHelper.Reset()`): activities scheduled by an episode, activity
 *   results, sub-orchestration starts and results. A message enqueued by another process — a client
 *   call from an HTTP, timer or Event Grid function, which Flex Consumption runs in other scale
 *   groups than the durable triggers — and a durable timer (a message made visible at its fire time)
 *   wait for the next poll: between 0 and the maximum once the poller is idle, half of it on average.
 *   Pollers are modelled per instance (a control queue serves several instances; their traffic only
 *   shortens the others' back-off, so this is never quicker than Azure). Plus `dispatchMs` for the
 *   storage round trips of every dispatch.
 * - Durable Task Scheduler: dispatch is pushed to the worker over its gRPC stream, no polling: every
 *   dispatch costs `dispatchMs`. No figure is documented; DTS_DISPATCH_MS is an assumption.
 * Cold start (Flex Consumption): after `idleMs` without work the durable scale group has no instance
 * unless it has always-ready instances (Bicep: alwaysReadyDurableInstances = 1); the next dispatch
 * then waits `delayMs` for an instance, whose pollers start afresh.
 */
export type DispatchBackend = 'none' | DurableBackend;

export interface DispatchLatencyProfile {
  backend: DispatchBackend;
  /** Every dispatch: the backend's own round trips (enqueue, dequeue, state read). */
  dispatchMs: number;
  /** Azure Storage: host.json storageProvider.maxQueuePollingInterval (ms). */
  maxQueuePollingIntervalMs: number;
  coldStart: { alwaysReady: boolean; idleMs: number; delayMs: number };
}

export type DispatchLatencyOption = DispatchBackend | (Partial<Omit<DispatchLatencyProfile, 'coldStart'>> & { backend: DispatchBackend; coldStart?: Partial<DispatchLatencyProfile['coldStart']> });

/** DurableTask.AzureStorage TaskHubQueue: `minPollingDelay = TimeSpan.FromMilliseconds(50)`. */
export const AZURE_STORAGE_MIN_POLLING_MS = 50;
/** The extension's default maxQueuePollingInterval (host.json reference): 30 s. */
export const AZURE_STORAGE_DEFAULT_MAX_POLLING_MS = 30_000;
/**
 * Assumption (no documented figure): a queue add, the dequeue and the instance's history read, each
 * a same-region Azure Storage request of tens of milliseconds (the engine's start models a table
 * read then write as 20 ms).
 */
export const AZURE_STORAGE_DISPATCH_MS = 50;
/**
 * Assumption (no documented figure, none found in the DTS docs or issues): the worker's completion
 * call, the scheduler's commit and the push of the next work item on the stream — a few same-region
 * round trips plus a durable write; 50 ms is taken on the slow side of that.
 */
export const DTS_DISPATCH_MS = 50;
/**
 * Assumptions: Azure documents neither. "After your function app has been idle for a number of
 * minutes, the platform may scale the number of instances … down to zero" (functions-scale.md):
 * taken as 2 min, the shortest reading (more cold starts, never kinder). Delay: a field measurement
 * of Flex Consumption found ~30 s end to end for a first call after full idle (worker allocation
 * dominating; ~1.8 s for a scale-out), so 30 s.
 */
export const FLEX_IDLE_BEFORE_SCALE_IN_MS = 120_000;
export const FLEX_COLD_START_MS = 30_000;

const COLD_START = { alwaysReady: true, idleMs: FLEX_IDLE_BEFORE_SCALE_IN_MS, delayMs: FLEX_COLD_START_MS };

export const NO_DISPATCH_LATENCY: DispatchLatencyProfile = {
  backend: 'none',
  dispatchMs: 0,
  maxQueuePollingIntervalMs: 0,
  coldStart: { ...COLD_START, alwaysReady: true },
};

/**
 * 'dts' / 'azure-storage' take the figures above (Azure Storage with the extension's 30 s default
 * maximum unless given), with always-ready instances; a profile object overrides what it names.
 */
export function resolveDispatchLatency(option: DispatchLatencyOption = 'none'): DispatchLatencyProfile {
  const named = typeof option === 'string' ? { backend: option } : option;
  if (named.backend === 'none') return NO_DISPATCH_LATENCY;
  const base: DispatchLatencyProfile =
    named.backend === 'dts'
      ? { backend: 'dts', dispatchMs: DTS_DISPATCH_MS, maxQueuePollingIntervalMs: 0, coldStart: COLD_START }
      : { backend: 'azure-storage', dispatchMs: AZURE_STORAGE_DISPATCH_MS, maxQueuePollingIntervalMs: AZURE_STORAGE_DEFAULT_MAX_POLLING_MS, coldStart: COLD_START };
  return {
    backend: base.backend,
    dispatchMs: named.dispatchMs ?? base.dispatchMs,
    maxQueuePollingIntervalMs: named.maxQueuePollingIntervalMs ?? base.maxQueuePollingIntervalMs,
    coldStart: { ...base.coldStart, ...named.coldStart },
  };
}

/** One line per assumption, for the bench and `npm run local` to print. */
export function describeDispatchLatency(profile: DispatchLatencyProfile): string[] {
  const s = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${ms} ms`);
  if (profile.backend === 'none') return ['Durable dispatch: none modelled (episodes, activities, timers and events dispatched at once; quicker than Azure)'];
  const backend =
    profile.backend === 'dts'
      ? `Durable dispatch on the Durable Task Scheduler (work pushed over a gRPC stream): +${s(profile.dispatchMs)} per dispatch (assumption, no documented figure)`
      : `Durable dispatch on Azure Storage, maxQueuePollingInterval ${s(profile.maxQueuePollingIntervalMs)}: idle pollers back off from ${AZURE_STORAGE_MIN_POLLING_MS} ms to ${s(profile.maxQueuePollingIntervalMs)}; ` +
        `a client call, raised event or durable timer waits for the next poll (0-${s(profile.maxQueuePollingIntervalMs)}, mean ${s(profile.maxQueuePollingIntervalMs / 2)} when idle), ` +
        `work the worker enqueues itself wakes its poller; +${s(profile.dispatchMs)} per dispatch (assumption)`;
  const cold = profile.coldStart.alwaysReady
    ? `cold start: none (always-ready instances in the durable group; idle scale-in after ${s(profile.coldStart.idleMs)} and a ${s(profile.coldStart.delayMs)} cold start would apply without them)`
    : `cold start: no always-ready instance, so after ${s(profile.coldStart.idleMs)} idle the next dispatch waits ${s(profile.coldStart.delayMs)} (assumptions)`;
  return [backend, cold];
}

/**
 * Azure Storage poller: the first poll at or after `at` when the poller last found (or was woken
 * for) a message at `resetAt`. Polls: resetAt, then waits of min, min+min, min+2·min, min+4·min, …
 * capped at max (BackoffPollingHelper.RandomizedExponentialBackoffStrategy at its mean).
 */
export function nextPollAt(resetAt: number, at: number, maxMs: number, minMs = AZURE_STORAGE_MIN_POLLING_MS): number {
  const cap = Math.max(maxMs, minMs);
  let poll = resetAt;
  for (let k = 1; poll < at; k++) {
    const interval = Math.min(k === 1 ? minMs : minMs + minMs * 2 ** (k - 2), cap);
    if (interval === cap) return poll + Math.ceil((at - poll) / cap) * cap;
    poll += interval;
  }
  return poll;
}

type Waiter = { timer: ClockTimer; resolve: (dispatched: boolean) => void };

export class DispatchLatency {
  private readonly waiters = new Set<Waiter>();
  /** Azure Storage: when each instance's poller last found or was woken for a message. */
  private readonly lastPoll = new Map<string, number>();
  /** When the current worker's pollers started (runtime start, or the end of a cold start). */
  private pollersSince: number;
  private lastActiveAt: number;
  private readyAt = Number.NEGATIVE_INFINITY;
  private activities = 0;
  private released = false;

  constructor(
    readonly profile: DispatchLatencyProfile,
    private readonly clock: Clock,
    private readonly log?: RuntimeLog,
  ) {
    this.pollersSince = clock.now();
    this.lastActiveAt = clock.now();
  }

  /**
   * Resolves when the episode's work item reaches the worker. Without a delay it resolves on the
   * next turn of the event loop, as the engine always did.
   */
  beforeEpisode(state: InstanceState): Promise<void> {
    if (this.profile.backend === 'none' || this.released) return nextTurn();
    const woken = state.inbox.some((m) => enqueuedByWorker(m, state));
    return this.wait(this.delay(state.instanceId, woken), { kind: 'episode', instanceId: state.instanceId, woken }).then(() => undefined);
  }

  /**
   * Starts the activity once its work item reaches the worker (at once without a profile); the
   * durable group counts as busy until it settles. Activity messages are always enqueued by the
   * worker's own episode, so an Azure Storage poller is woken for them.
   */
  runActivity<T>(instanceId: string, start: () => Promise<T>): Promise<T> {
    if (this.profile.backend === 'none') return start();
    const run = (): Promise<T> => {
      this.activities += 1;
      return start().finally(() => {
        this.activities -= 1;
        this.lastActiveAt = Math.max(this.lastActiveAt, this.clock.now());
      });
    };
    if (this.released) return Promise.reject(new RuntimeStoppedError());
    return this.wait(this.delay('workitems', true), { kind: 'activity', instanceId, woken: true }).then((dispatched) => (dispatched ? run() : Promise.reject(new RuntimeStoppedError())));
  }

  /** The engine stops: every pending wait ends now; an activity not yet started never starts. */
  release(): void {
    this.released = true;
    for (const waiter of this.waiters) {
      waiter.timer.cancel();
      waiter.resolve(false);
    }
    this.waiters.clear();
  }

  private delay(queue: string, woken: boolean): { ms: number; pollMs: number; coldStartMs: number } {
    const now = this.clock.now();
    const { coldStart } = this.profile;
    let coldStartMs = 0;
    if (this.readyAt > now) {
      coldStartMs = this.readyAt - now;
    } else if (!coldStart.alwaysReady && this.activities === 0 && now - this.lastActiveAt > coldStart.idleMs) {
      this.readyAt = now + coldStart.delayMs;
      this.pollersSince = this.readyAt;
      this.lastPoll.clear();
      coldStartMs = coldStart.delayMs;
      this.log?.info('dispatch.coldStart', { idleMs: now - this.lastActiveAt, delayMs: coldStart.delayMs });
    }
    const takenFrom = now + coldStartMs;
    let pollMs = 0;
    if (this.profile.backend === 'azure-storage') {
      if (!woken) pollMs = nextPollAt(this.lastPoll.get(queue) ?? this.pollersSince, takenFrom, this.profile.maxQueuePollingIntervalMs) - takenFrom;
      this.lastPoll.set(queue, takenFrom + pollMs);
    }
    const ms = coldStartMs + pollMs + this.profile.dispatchMs;
    this.lastActiveAt = Math.max(this.lastActiveAt, now + ms);
    return { ms, pollMs, coldStartMs };
  }

  /** Resolves true once the delay has passed, false if the engine stopped first. */
  private wait(delay: { ms: number; pollMs: number; coldStartMs: number }, fields: Record<string, unknown>): Promise<boolean> {
    this.log?.debug('dispatch.delayed', { ...fields, backend: this.profile.backend, waitMs: delay.ms, pollMs: delay.pollMs, coldStartMs: delay.coldStartMs });
    if (delay.ms <= 0) return nextTurn().then(() => !this.released);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: this.clock.schedule(this.clock.now() + delay.ms, () => {
          this.waiters.delete(waiter);
          resolve(true);
        }),
      };
      this.waiters.add(waiter);
    });
  }
}

function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Whether the message was enqueued by the durable worker itself (its poller is woken): results of
 * its activities and sub-orchestrations, a sub-orchestration's start. Client calls (start, raise,
 * terminate) come from functions in other scale groups; a timer becomes visible by itself.
 */
function enqueuedByWorker(message: InboxMessage, state: InstanceState): boolean {
  switch (message.event.EventType) {
    case EventType.TaskCompleted:
    case EventType.TaskFailed:
    case EventType.SubOrchestrationInstanceCompleted:
    case EventType.SubOrchestrationInstanceFailed:
      return true;
    case EventType.ExecutionStarted:
      return state.parent !== undefined;
    default:
      return false;
  }
}
