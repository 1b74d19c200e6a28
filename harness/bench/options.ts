import { LatencyName, PromoteMethod } from './ours';
import { DETECTION_NAMES, DetectionName } from './detection';
import type { DurableBackend } from '../local/runtime/host/durable-backend';

/** What to run, from the command line. */
export interface BenchOptions {
  /** Our zero-latency switchovers per promotion path, and Patroni's switchovers. */
  runs: number;
  /** Our realistic-latency switchovers per promotion path (each takes a minute or two). */
  realisticRuns: number;
  /** kill -9 failovers per detection variant, ours (zero latency) and Patroni's. */
  failoverRuns: number;
  /** Our kill -9 failovers per detection variant with the realistic Azure latency profile (each takes minutes). */
  realisticFailoverRuns: number;
  /** Detection settings the failovers run with (detection.ts), each for both tools. */
  detection: DetectionName[];
  methods: PromoteMethod[];
  profiles: LatencyName[];
  /** The Durable backend our realistic stacks model (main.bicep durableBackend): its dispatch latency and limits. */
  durableBackend: DurableBackend;
  ours: boolean;
  peer: boolean;
  install: boolean;
  json: boolean;
  /** Acknowledged commits before and after each operation. */
  commits: number;
  /** Loopback blocks (127.<block>.x): ours, Patroni, and Patroni with the fast detection timing. */
  blocks: { ours: string; peer: string; peerFast: string };
}

export const DEFAULTS = { runs: 5, realisticRuns: 1, failoverRuns: 1, realisticFailoverRuns: 0, commits: 200 } as const;
export const QUICK = { runs: 1, realisticRuns: 0, failoverRuns: 0, realisticFailoverRuns: 0 } as const;

export interface RawFlags {
  runs?: string;
  realisticRuns?: string;
  failoverRuns?: string;
  realisticFailoverRuns?: string;
  detection?: string;
  methods?: string;
  profiles?: string;
  durableBackend?: string;
  quick?: boolean;
  ours?: boolean;
  peer?: boolean;
  install?: boolean;
  json?: boolean;
  commits?: string;
}

function count(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 1000) throw new Error(`${flag} must be a whole number ${min}-1000, not "${value}"`);
  return n;
}

function list<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((item) => !allowed.includes(item as T));
  if (items.length === 0 || bad.length) throw new Error(`${flag} takes a comma-separated list of ${allowed.join(', ')}; got "${value}"`);
  return [...new Set(items as T[])];
}

/** One of `allowed`; the first when not given. */
function one<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (value === undefined) return allowed[0];
  if (!allowed.includes(value as T)) throw new Error(`${flag} takes one of ${allowed.join(', ')}; got "${value}"`);
  return value as T;
}

/** The promotion path our failovers use: the app's default (sql) when it is among --methods, else the one given. */
export function failoverPromoteMethod(options: Pick<BenchOptions, 'methods'>): PromoteMethod {
  return options.methods.includes('sql') ? 'sql' : options.methods[0];
}

/** Flags to options: --quick lowers every count that was not given explicitly. */
export function resolveOptions(flags: RawFlags): BenchOptions {
  const base = flags.quick ? QUICK : DEFAULTS;
  return {
    runs: count('--runs', flags.runs, base.runs, 1),
    realisticRuns: count('--realistic-runs', flags.realisticRuns, base.realisticRuns),
    failoverRuns: count('--failover-runs', flags.failoverRuns, base.failoverRuns),
    realisticFailoverRuns: count('--realistic-failover-runs', flags.realisticFailoverRuns, base.realisticFailoverRuns),
    detection: list('--detection', flags.detection, DETECTION_NAMES),
    methods: list('--methods', flags.methods, ['sql', 'runCommand'] as const),
    profiles: list('--profiles', flags.profiles, ['zero', 'realistic'] as const),
    durableBackend: one('--durable-backend', flags.durableBackend, ['dts', 'azure-storage'] as const),
    ours: flags.ours !== false,
    peer: flags.peer !== false,
    install: flags.install !== false,
    json: flags.json === true,
    commits: count('--commits', flags.commits, DEFAULTS.commits, 1),
    blocks: { ours: '60.1', peer: '60.2', peerFast: '60.3' },
  };
}
