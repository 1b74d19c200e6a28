/**
 * Time source for the local runtime. Durable timers, history timestamps (which become
 * `context.df.currentUtcDateTime`) and NCRONTAB schedules all read this clock, so a test can drive
 * time with ManualClock instead of waiting. The real clock arms ordinary wall-clock timers.
 */
export interface Clock {
  now(): number;
  /** Calls `callback` once, when the clock reaches `atMs` (at once if it already has). */
  schedule(atMs: number, callback: () => void): ClockTimer;
}

export interface ClockTimer {
  cancel(): void;
}

/** setTimeout cannot wait longer than 2^31-1 ms; longer waits are re-armed in chunks. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export const realClock: Clock = {
  now: () => Date.now(),
  schedule(atMs, callback) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      const wait = atMs - Date.now();
      if (wait > MAX_TIMEOUT_MS) {
        handle = setTimeout(arm, MAX_TIMEOUT_MS);
        return;
      }
      handle = setTimeout(() => {
        if (!cancelled) callback();
      }, Math.max(0, wait));
    };
    arm();
    return {
      cancel() {
        cancelled = true;
        if (handle) clearTimeout(handle);
      },
    };
  },
};

/** A clock that moves only when told to; due callbacks run synchronously inside advance(). */
export class ManualClock implements Clock {
  private current: number;
  private pending: Array<{ atMs: number; callback: () => void; cancelled: boolean }> = [];

  constructor(startMs: number = Date.UTC(2026, 0, 1)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  schedule(atMs: number, callback: () => void): ClockTimer {
    const entry = { atMs, callback, cancelled: false };
    this.pending.push(entry);
    if (atMs <= this.current) queueMicrotask(() => this.fireDue());
    return { cancel: () => void (entry.cancelled = true) };
  }

  /** Number of armed, not yet fired timers (lets a test wait until a timer exists). */
  get armedTimers(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  advance(ms: number): void {
    this.current += ms;
    this.fireDue();
  }

  private fireDue(): void {
    const due = this.pending.filter((p) => p.atMs <= this.current).sort((a, b) => a.atMs - b.atMs);
    this.pending = this.pending.filter((p) => p.atMs > this.current);
    for (const entry of due) if (!entry.cancelled) entry.callback();
  }
}
