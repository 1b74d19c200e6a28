/**
 * Structured runtime log: one JSON object per line, so `npm run local` output can be grepped and
 * parsed (`jq`) and tests can assert on events. Every line carries `ts`, `level` and `event`.
 */
export type RuntimeLogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogSink = (line: string) => void;

export interface RuntimeLog {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const rank: Record<RuntimeLogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export const stderrSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

export function createRuntimeLog(sink: LogSink = stderrSink, minLevel: RuntimeLogLevel = 'info'): RuntimeLog {
  const write = (level: RuntimeLogLevel, event: string, fields?: Record<string, unknown>): void => {
    if (rank[level] < rank[minLevel]) return;
    sink(JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields }, errorReplacer));
  };
  return {
    debug: (event, fields) => write('debug', event, fields),
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
  };
}

/** Errors have no enumerable fields; without this they would log as `{}`. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
