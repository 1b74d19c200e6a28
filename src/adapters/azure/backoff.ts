/** Exponential backoff with "equal jitter" (half fixed, half random), bounded by a total time budget. */
export interface BackoffPolicy {
  /** First delay (before jitter). */
  baseDelayMs: number;
  /** Ceiling for one delay. */
  maxDelayMs: number;
  /** Give up once this much time has passed since the first attempt. */
  budgetMs: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export type RetryDecision = { retry: true } | { retry: false };

/**
 * Calls `attempt` until it succeeds, `shouldRetry` says no, or the budget is spent (then the
 * last error is rethrown). `onRetry` sees every retried error, e.g. to log it.
 */
export async function withBackoff<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  shouldRetry: (error: unknown) => boolean,
  policy: BackoffPolicy,
  clock: Clock = systemClock,
  onRetry: (error: unknown, attemptNumber: number, delayMs: number) => void = () => undefined,
): Promise<T> {
  const started = clock.now();
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (!shouldRetry(error)) throw error;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attemptNumber - 1));
      const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      if (clock.now() - started + delayMs > policy.budgetMs) throw error;
      onRetry(error, attemptNumber, delayMs);
      await clock.sleep(delayMs);
    }
  }
}
