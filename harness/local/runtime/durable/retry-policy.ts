import type { RetryOptionsJson } from './actions';

/**
 * Delay before the next attempt of a callActivityWithRetry / callSubOrchestratorWithRetry, as
 * DurableTask.Core's RetryInterceptor.ComputeNextDelay computes it (the host owns retries; the JS
 * SDK only mirrors the sequence numbers). Defaults are the extension's RetryOptions defaults
 * (RetryOptionsConverter reads the optional fields): backoff 1, max interval 6 days, no timeout.
 * Returns 0 when no further attempt may start (retry timeout elapsed).
 */
export const DEFAULT_MAX_RETRY_INTERVAL_MS = 6 * 24 * 60 * 60 * 1000;

export function nextRetryDelayMs(
  options: RetryOptionsJson,
  attempt: number,
  firstAttemptMs: number,
  nowMs: number,
): number {
  const timeout = options.retryTimeoutInMilliseconds;
  const expiration = timeout === undefined ? Number.POSITIVE_INFINITY : firstAttemptMs + timeout;
  if (!(nowMs < expiration)) return 0;
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(options.backoffCoefficient ?? 1, attempt);
  const max = options.maxRetryIntervalInMilliseconds ?? DEFAULT_MAX_RETRY_INTERVAL_MS;
  return delay < max ? delay : max;
}
