import type { CoreRetryOptions, RpcRetryContext } from '../worker/rpc-types';

/**
 * The host's function-level retry policy (`retry` in app.timer/app.generic options; not the durable
 * RetryOptions): fixedDelay waits delayInterval between attempts, exponentialBackoff doubles from
 * minimumInterval up to maximumInterval; maxRetryCount -1 means retry forever. The invocation
 * receives retryContext { retryCount, maxRetryCount }.
 */
export function retryDelayMs(options: CoreRetryOptions, retryCount: number): number {
  const ms = (d: { seconds?: number; nanos?: number } | null | undefined): number => (d?.seconds ?? 0) * 1000 + (d?.nanos ?? 0) / 1e6;
  if ((options.retryStrategy ?? '').toLowerCase() === 'exponentialbackoff') {
    const min = ms(options.minimumInterval);
    const max = ms(options.maximumInterval);
    return Math.min(max, min * Math.pow(2, retryCount));
  }
  return ms(options.delayInterval);
}

export async function withFunctionRetry(
  options: CoreRetryOptions | undefined,
  wait: (ms: number) => Promise<boolean>,
  attempt: (retryContext: RpcRetryContext | undefined) => Promise<void>,
): Promise<void> {
  const max = options?.maxRetryCount ?? 0;
  for (let retryCount = 0; ; retryCount++) {
    try {
      await attempt(options ? { retryCount, maxRetryCount: max } : undefined);
      return;
    } catch (error) {
      if (!options || (max >= 0 && retryCount >= max)) throw error;
      if (!(await wait(retryDelayMs(options, retryCount)))) throw error;
    }
  }
}
