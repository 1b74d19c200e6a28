import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalRuntime, type LocalRuntimeOptions } from '../../../harness/local/runtime';

export const DURABLE_APP = resolve(__dirname, '../../fixtures/runtime/durable-app.ts');
export const HTTP_APP = resolve(__dirname, '../../fixtures/runtime/http-app.ts');

/** Structured log lines a runtime wrote, with an event-driven wait on them. */
export class LogCollector {
  readonly entries: Array<Record<string, unknown>> = [];
  private waiters: Array<{ predicate: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }> = [];

  readonly sink = (line: string): void => {
    const entry = JSON.parse(line) as Record<string, unknown>;
    this.entries.push(entry);
    this.waiters = this.waiters.filter((w) => {
      if (!w.predicate(entry)) return true;
      w.resolve(entry);
      return false;
    });
  };

  next(predicate: (e: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const seen = this.entries.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a log entry')), timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (e) => {
          clearTimeout(timer);
          resolvePromise(e);
        },
      });
    });
  }
}

export function tempStateDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'local-runtime-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startRuntime(
  options: Partial<LocalRuntimeOptions> & { stateDir: string },
): Promise<{ runtime: LocalRuntime; logs: LogCollector }> {
  const logs = new LogCollector();
  const runtime = await LocalRuntime.start({ appModule: DURABLE_APP, log: logs.sink, logLevel: 'debug', ...options });
  return { runtime, logs };
}

export const WAIT = { timeoutMs: 30_000 };
