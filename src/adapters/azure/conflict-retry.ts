import type { ErrorContext } from '../../domain/errors';
import { LoadBalancerUpdateError } from '../../ports/errors';
import { withBackoff } from './backoff';
import type { ResolvedAdapterOptions } from './options';
import { azureErrorInfo, isConflict, isPreconditionFailed } from './rest-errors';

/** How many write-then-reread rounds before we conclude that someone keeps undoing our change. */
const MAX_ROUNDS = 5;

/**
 * Read-modify-write with optimistic concurrency. `attempt` reads the resource, and either finds
 * it already right ('done') or writes it with If-Match ('verify'). After a write the attempt runs
 * again, so the change is confirmed by a fresh read (and redone if it did not stick). A 412 (our
 * etag went stale) or 409 (another operation on the resource) is answered by a backoff and a
 * re-read, never by blindly resending.
 */
export async function withConflictRetry(
  what: string,
  options: ResolvedAdapterOptions,
  context: ErrorContext,
  attempt: () => Promise<'done' | 'verify'>,
): Promise<void> {
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    let outcome: 'done' | 'verify';
    try {
      outcome = await withBackoff(attempt, (error) => isPreconditionFailed(error) || isConflict(error), options.conflictRetry, options.clock, (error, attemptNumber, delayMs) =>
        options.log.info('lb.conflict-retry', { what, status: azureErrorInfo(error).statusCode, attempt: attemptNumber, delayMs }),
      );
    } catch (error) {
      if (isPreconditionFailed(error) || isConflict(error)) {
        throw new LoadBalancerUpdateError(`Could not ${what}: the resource kept changing under us (${azureErrorInfo(error).message})`, context, { cause: error });
      }
      throw error;
    }
    if (outcome === 'done') return;
  }
  throw new LoadBalancerUpdateError(`Could not ${what}: after ${MAX_ROUNDS} writes a fresh read still shows the old state (something else keeps changing the pools)`, context);
}
