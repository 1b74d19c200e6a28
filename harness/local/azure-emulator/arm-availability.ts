import { AzureHttpError, type RequestContext } from './http-kit';

/**
 * How ARM fails while it is unavailable: `'503'` answers every request at once with 503
 * ServiceUnavailable; `'timeout'` accepts the request and never answers it (the client's own
 * timeout decides).
 */
export type ArmUnavailableMode = '503' | 'timeout';

export interface ArmUnavailableOptions {
  /** Retry-After (seconds) on the 503s; default ARM_UNAVAILABLE_RETRY_AFTER_SECONDS. */
  retryAfterSeconds?: number;
}

/**
 * ARM's contract: clients retry a 5xx (503 named) and wait as long as the server's Retry-After
 * says (Azure/azure-resource-manager-rpc, v1.0/Addendum.md "Retrying REST Calls"); the
 * Retry-After it allows on asynchronous operations is 10 s to 10 min (v1.0/async-api-reference.md).
 * What an outage's 503 carries is not documented: the shortest of those values is assumed.
 */
export const ARM_UNAVAILABLE_RETRY_AFTER_SECONDS = 10;

/**
 * ARM's front door down: every ARM request (resource reads and writes, Run Command,
 * asynchronous-operation polls) fails, while the services behind it go on — an operation ARM
 * accepted before the outage keeps running; only its status cannot be read until ARM is back.
 */
export class ArmAvailability {
  private outage: { mode: ArmUnavailableMode; retryAfterSeconds: number } | undefined;
  /** Requests hanging in 'timeout' mode: each answers 503 with the Retry-After it is given. */
  private readonly hanging = new Set<(retryAfterSeconds: number) => void>();

  /** Requests ARM holds unanswered now ('timeout' mode). */
  get hangingRequests(): number {
    return this.hanging.size;
  }

  makeUnavailable(mode: ArmUnavailableMode, options: ArmUnavailableOptions = {}): void {
    const retryAfterSeconds = options.retryAfterSeconds ?? ARM_UNAVAILABLE_RETRY_AFTER_SECONDS;
    if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) throw new Error(`retryAfterSeconds must be a whole number of seconds (got ${retryAfterSeconds})`);
    this.outage = { mode, retryAfterSeconds };
  }

  /**
   * ARM answers again. A request that hung through the outage ('timeout') is answered 503 now, not
   * carried out: nothing asked for during the outage takes effect afterwards. That is the stricter
   * choice for the app: it never saw the request acknowledged, so it must not count on the change
   * (a VM stopped, a pool changed), and an app that wrongly did would be caught here, where a late
   * effect could prove it right by luck. (A request ARM did pass on to a resource provider that
   * answered too late may still take effect — ARM gives up after 60 s with 504 and "will not see
   * the response from the RP", Azure/azure-resource-manager-rpc v1.0/common-api-details.md — but
   * that is a slow provider behind a working ARM, not modelled here.)
   */
  makeAvailable(): void {
    const retryAfterSeconds = this.outage?.retryAfterSeconds ?? ARM_UNAVAILABLE_RETRY_AFTER_SECONDS;
    this.outage = undefined;
    const hanging = [...this.hanging];
    this.hanging.clear();
    for (const answer of hanging) answer(retryAfterSeconds);
  }

  /**
   * Fails one ARM request as the outage's mode says (true), or does nothing while ARM is
   * available (false). In 'timeout' mode it ends when ARM is back (answered 503) or when the
   * client gives up first (never answered: `ctx.status` stays 0).
   */
  async refuse(ctx: RequestContext): Promise<boolean> {
    const outage = this.outage;
    if (!outage) return false;
    ctx.req.resume();
    if (outage.mode === '503') throw unavailableError(outage.retryAfterSeconds);
    await new Promise<void>((resolve) => {
      const answer = (retryAfterSeconds: number) => {
        if (!ctx.res.destroyed) ctx.sendError(unavailableError(retryAfterSeconds));
        resolve();
      };
      this.hanging.add(answer);
      ctx.res.once('close', () => {
        this.hanging.delete(answer);
        resolve();
      });
    });
    return true;
  }
}

function unavailableError(retryAfterSeconds: number): AzureHttpError {
  // ARM's error shape and 503's code (a 503 through ARM reported as "ServiceUnavailable":
  // Azure/azure-cli#28075); the message is ours.
  return new AzureHttpError(503, 'ServiceUnavailable', 'The service is unavailable right now (the emulator plays an ARM outage). Please retry the request later.', {
    'Retry-After': String(retryAfterSeconds),
  });
}
