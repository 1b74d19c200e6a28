import type { OperationLog } from '../../ports/log';
import { silentLog } from '../../ports/log';
import { type BackoffPolicy, type Clock, systemClock } from './backoff';

/** Tuning shared by the Azure adapters; the defaults suit production. */
export interface AzureAdapterOptions {
  /** Poll interval for long-running operations when Azure sends no Retry-After. */
  pollIntervalMs?: number;
  /** Waiting out another Run Command on the same VM (409 "execution is in progress"). */
  busyRetry?: BackoffPolicy;
  /** Re-reading and retrying a network update after 412 (stale etag) or 409 (another operation in progress). */
  conflictRetry?: BackoffPolicy;
  /** How long a secret read from Key Vault is reused. */
  secretTtlMs?: number;
  clock?: Clock;
  log?: OperationLog;
  /** Cluster name, added to every typed error's context. */
  cluster?: string;
}

export type ResolvedAdapterOptions = Required<Omit<AzureAdapterOptions, 'cluster'>> & { cluster: string | undefined };

export function resolveAdapterOptions(options: AzureAdapterOptions = {}): ResolvedAdapterOptions {
  return {
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    // The wait happens inside an activity, which host.json functionTimeout (10 min) bounds
    // together with the script itself (docs/azure-platform.md item 4): 3 min of waiting plus our
    // longest synchronous script (a few minutes) stays well inside it. A VM busy for longer (an
    // asynchronous rejoin can hold it for an hour) fails the attempt with VmCommandBusyError.
    busyRetry: options.busyRetry ?? { baseDelayMs: 2000, maxDelayMs: 15_000, budgetMs: 3 * 60_000 },
    conflictRetry: options.conflictRetry ?? { baseDelayMs: 500, maxDelayMs: 10_000, budgetMs: 3 * 60_000 },
    secretTtlMs: options.secretTtlMs ?? 5 * 60_000,
    clock: options.clock ?? systemClock,
    log: options.log ?? silentLog,
    cluster: options.cluster,
  };
}
