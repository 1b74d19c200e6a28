import type { PipelinePolicy } from './if-match-policy';

/** No answer from ARM within the bound (the SDK's own retries of the request included). */
export class ArmRequestTimeoutError extends Error {
  readonly code = 'ArmRequestTimeout';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ArmRequestTimeoutError';
  }
}

/**
 * Bounds every ARM request: the first send, the SDK's retries and their waits, and each poll of a
 * long-running operation (the pollers send their GETs with the caller's abort signal only, not its
 * requestOptions, so a per-call timeout would miss them). The SDK pipeline has no timeout of its
 * own: a request ARM accepts and never answers would otherwise wait forever — until the Functions
 * host's functionTimeout ends the whole attempt (an activity) or, for an HTTP or timer function,
 * not at all. The caller's own abort signal still works as before.
 */
export function requestTimeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: 'pgfoRequestTimeout',
    async sendRequest(request, next) {
      const callerSignal = request.abortSignal;
      const controller = new AbortController();
      const abort = () => controller.abort();
      if (callerSignal?.aborted) abort();
      else callerSignal?.addEventListener('abort', abort, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        abort();
      }, timeoutMs);
      request.abortSignal = controller.signal;
      try {
        return await next(request);
      } catch (error) {
        if (!timedOut) throw error;
        const path = new URL(request.url).pathname;
        throw new ArmRequestTimeoutError(`ARM did not answer ${request.method} ${path} within ${timeoutMs / 1000} s (retries included)`, { cause: error });
      } finally {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', abort);
        request.abortSignal = callerSignal;
      }
    },
  };
}
