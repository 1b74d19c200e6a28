import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgEndpoint } from '../../src/adapters/postgres/connect';
import { AcknowledgedCommit, findLostCommits, WriteLoad, WriteLoadReport } from '../load/write-load';

export interface LoadSettings {
  /** Acknowledged commits before the operation starts, and again after it ended, before the load stops. */
  commitsAround: number;
  /** How long the load may take to get those commits after the operation (bounds every wait). */
  recoveryTimeoutMs: number;
}

export interface Measurement<T> {
  result: T;
  startedAt: number;
  endedAt: number;
  writes: WriteLoadReport;
  lost: number[] | null;
  lostCheckError?: string;
  commitsElsewhereAfterNewPrimary: number;
  finalServer: string | null;
  /** The first commit the final primary acknowledged after the operation started, ms after the start. */
  firstCommitOnFinalMs: number | null;
}

/**
 * Runs `operation` while the write load (harness/load/write-load.ts, the same client for every tool)
 * writes through `endpoint`, then counts lost commits row by row through the same endpoint.
 * `beforeStart` runs once the load has its first commits, before the operation's clock starts.
 * The load always stops, also when the operation throws.
 */
export async function measureUnderLoad<T>(endpoint: PgEndpoint, settings: LoadSettings, operation: () => Promise<T>, options: { beforeStart?: () => Promise<void> } = {}): Promise<Measurement<T>> {
  const load = new WriteLoad(endpoint);
  await load.prepare();
  load.start();
  let stopped: WriteLoadReport | undefined;
  try {
    await load.waitForCommits(settings.commitsAround, 60_000);
    // E.g. waiting for the moment to kill: the load keeps writing, the operation's clock has not started.
    await options.beforeStart?.();
    const startedAt = performance.now();
    const result = await operation();
    const endedAt = performance.now();
    await load.waitForCommits(settings.commitsAround, settings.recoveryTimeoutMs);
    stopped = await load.stop();
    const writes = stopped;
    const { lost, error } = await countLost(endpoint, writes);
    const finalServer = writes.acknowledged.at(-1)?.server ?? null;
    const firstOnFinal = writes.acknowledged.findIndex((c) => c.server === finalServer);
    const elsewhere = firstOnFinal < 0 ? 0 : writes.acknowledged.slice(firstOnFinal).filter((c) => c.server !== finalServer).length;
    const firstCommitOnFinalMs = firstCommitAfter(writes.acknowledged, finalServer, startedAt);
    return { result, startedAt, endedAt, writes, lost, ...(error ? { lostCheckError: error } : {}), commitsElsewhereAfterNewPrimary: elsewhere, finalServer, firstCommitOnFinalMs };
  } finally {
    if (!stopped) await load.stop();
  }
}

/** Lost commits, asking a few times (the endpoint may still be settling); null if it cannot be checked. */
async function countLost(endpoint: PgEndpoint, writes: WriteLoadReport): Promise<{ lost: number[] | null; error?: string }> {
  let lastError = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return { lost: await findLostCommits(endpoint, writes.acknowledged) };
    } catch (error) {
      lastError = (error as Error).message;
      await sleep(500);
    }
  }
  return { lost: null, error: lastError };
}

/** ms from `startedAt` to the first commit `server` acknowledged after it; null if there is none. */
export function firstCommitAfter(acknowledged: readonly AcknowledgedCommit[], server: string | null, startedAt: number): number | null {
  if (server === null) return null;
  const first = acknowledged.find((c) => c.server === server && c.at > startedAt);
  return first ? Math.round(first.at - startedAt) : null;
}

/** The figures every scenario reports from its write load, the same way for every tool. */
export function writeFigures<T>(measured: Measurement<T>) {
  return {
    writeOutageMs: measured.writes.writeOutageMs,
    outageWindow: outageWindow(measured.writes, measured.startedAt),
    acknowledgedCommits: measured.writes.acknowledged.length,
    lostCommits: measured.lost?.length ?? null,
    lostCommitIds: (measured.lost ?? []).slice(0, 100),
    failedAttempts: measured.writes.failedAttempts,
    commitsElsewhereAfterNewPrimary: measured.commitsElsewhereAfterNewPrimary,
  };
}

/** The outage gap relative to the operation's start. */
export function outageWindow(writes: WriteLoadReport, startedAt: number): { fromMs: number; toMs: number } | null {
  if (writes.outageFrom === null || writes.outageTo === null) return null;
  return { fromMs: Math.round(writes.outageFrom - startedAt), toMs: Math.round(writes.outageTo - startedAt) };
}

/** Node names in a step name replaced by the role they play in this run, so steps line up across runs. */
export function stepRole(name: string, roles: { old: string | null; new: string | null; nodes: string[] }): string {
  return roles.nodes.reduce((text, node) => {
    const role = node === roles.old ? '<old>' : node === roles.new ? '<new>' : '<other>';
    return text.replace(new RegExp(`\\b${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'g'), role);
  }, name);
}
