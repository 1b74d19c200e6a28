import { createHash } from 'node:crypto';

/**
 * Long VM scripts run asynchronously (docs/azure-platform.md item 4): an activity starts a managed
 * Run Command, the orchestration polls it with durable timers. Pure helpers for that loop.
 */

/**
 * The managed Run Command name of one logical run: the same on every replay and on every retry of
 * the start activity (so a retried start finds the run instead of starting a second script), and
 * different for every other run — another orchestration, another step, or the same step of an
 * instance id used again later (the rejoin orchestration's id is per node), which the
 * orchestration time at the start tells apart. Letters, digits and '-', at most 80 characters.
 */
export function vmScriptRunName(script: string, instanceId: string, step: string, startedAt: Date): string {
  const digest = createHash('sha256').update(JSON.stringify([instanceId, step, startedAt.toISOString()])).digest('hex').slice(0, 32);
  const safe = script.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24) || 'script';
  return `pgfo-${safe}-${digest}`;
}

/** First look after the start; each later one waits twice as long, up to the ceiling. */
export const FIRST_POLL_MS = 1_000;
export const MAX_POLL_MS = 15_000;

/** The wait before the next look at a running script, after waiting `previousMs` for this one. */
export function nextPollDelayMs(previousMs: number | undefined): number {
  return previousMs === undefined ? FIRST_POLL_MS : Math.min(previousMs * 2, MAX_POLL_MS);
}

/**
 * How long after a script's own timeout the orchestration still waits to see its end: Azure ends
 * the script at timeoutInSeconds and reports it afterwards (the agent uploads the status). A run
 * still not ended after that is reported as lost, never waited for forever.
 */
export const REPORT_MARGIN_SECONDS = 300;
