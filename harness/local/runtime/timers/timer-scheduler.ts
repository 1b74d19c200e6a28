import type { Clock, ClockTimer } from '../clock';
import type { RuntimeLog } from '../log';
import type { CoreRetryOptions, RpcRetryContext } from '../worker/rpc-types';
import { withFunctionRetry } from './function-retry';
import type { Schedule } from './ncrontab';

/**
 * Fires timer-triggered functions on their schedule, as the host's timer listener does: one
 * invocation at a time per function, the next occurrence computed after the previous invocation
 * ends, runOnStartup honoured, the function-level retry policy applied. The trigger value is the
 * host's TimerInfo JSON ({ Schedule, ScheduleStatus, IsPastDue }), which @azure/functions camel-cases.
 */
export interface TimerFunction {
  name: string;
  schedule: Schedule;
  runOnStartup: boolean;
  retry?: CoreRetryOptions;
}

export interface TimerInfoJson {
  Schedule: { AdjustForDST: boolean };
  ScheduleStatus: { Last: string; Next: string; LastUpdated: string };
  IsPastDue: boolean;
}

export class TimerScheduler {
  private readonly armed = new Map<string, ClockTimer>();
  private readonly lastRun = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly deps: {
      clock: Clock;
      log: RuntimeLog;
      invoke(name: string, info: TimerInfoJson, retryContext: RpcRetryContext | undefined): Promise<void>;
    },
  ) {}

  start(functions: readonly TimerFunction[]): void {
    for (const fn of functions) {
      this.deps.log.info('timer.scheduled', { function: fn.name, schedule: fn.schedule.expression, next: iso(fn.schedule.next(this.deps.clock.now())) });
      if (fn.runOnStartup) void this.track(this.run(fn).catch(() => undefined).then(() => this.arm(fn)));
      else this.arm(fn);
    }
  }

  /** Runs the function now, outside its schedule (the schedule is not disturbed). */
  fireNow(fn: TimerFunction): Promise<void> {
    return this.track(this.run(fn));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.armed.values()) timer.cancel();
    this.armed.clear();
    await Promise.allSettled([...this.inflight]);
  }

  private arm(fn: TimerFunction): void {
    if (this.stopped) return;
    const at = fn.schedule.next(this.deps.clock.now());
    this.armed.set(
      fn.name,
      this.deps.clock.schedule(at, () => {
        this.armed.delete(fn.name);
        this.track(this.run(fn)).finally(() => this.arm(fn)).catch(() => undefined);
      }),
    );
  }

  private async run(fn: TimerFunction): Promise<void> {
    const now = this.deps.clock.now();
    const info: TimerInfoJson = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: { Last: iso(this.lastRun.get(fn.name) ?? 0), Next: iso(fn.schedule.next(now)), LastUpdated: iso(now) },
      IsPastDue: false,
    };
    this.lastRun.set(fn.name, now);
    try {
      await withFunctionRetry(fn.retry, (ms) => this.wait(ms), (retryContext) => this.deps.invoke(fn.name, info, retryContext));
    } catch (error) {
      this.deps.log.error('timer.failed', { function: fn.name, error });
      throw error;
    }
  }

  private wait(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.deps.clock.schedule(this.deps.clock.now() + ms, () => resolve(!this.stopped)));
  }

  private track(work: Promise<void>): Promise<void> {
    this.inflight.add(work);
    work.then(
      () => this.inflight.delete(work),
      () => this.inflight.delete(work),
    );
    return work;
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();
