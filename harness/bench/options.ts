import { LatencyName, PromoteMethod } from './ours';
import { DETECTION_NAMES, DetectionName } from './detection';
import type { DurableBackend } from '../local/runtime/host/durable-backend';
import type { LabLoadBalancing } from '../local/lab-cluster';

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
  /** How the lab's load balancer picks the writer in our stacks: pools (the app moves NICs through ARM) and/or probe (node agents answer probes by the write lease). */
  loadBalancing: LabLoadBalancing[];
  /**
   * ARM as our probe-mode stacks see it: available, and/or unavailable (switchovers with every ARM
   * request answered 503, kill -9 failovers with every ARM request left unanswered).
   */
  arm: ArmAvailabilityVariant[];
  /** What the failovers do to the primary: kill -9 of PostgreSQL on a VM that stays up, and/or its VM vanishing (silent, docs/azure-platform.md §20). */
  faults: FailoverFault[];
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
  loadBalancing?: string;
  arm?: string;
  fault?: string;
  blocks?: string;
  durableBackend?: string;
  quick?: boolean;
  ours?: boolean;
  peer?: boolean;
  install?: boolean;
  json?: boolean;
  commits?: string;
}

/** The load-balancing modes: pools unless asked (probe doubles our stacks and their run time). */
export const LOAD_BALANCING = ['pools', 'probe'] as const satisfies readonly LabLoadBalancing[];
export const DEFAULT_LOAD_BALANCING: readonly LabLoadBalancing[] = ['pools'];
export const ARM_VARIANTS = ['available', 'unavailable'] as const;
export const FAILOVER_FAULTS = ['kill', 'vanish'] as const;
export type FailoverFault = (typeof FAILOVER_FAULTS)[number];
export type ArmAvailabilityVariant = (typeof ARM_VARIANTS)[number];

export const DEFAULT_BLOCKS = { ours: '60.1', peer: '60.2', peerFast: '60.3' } as const;

function count(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 1000) throw new Error(`${flag} must be a whole number ${min}-1000, not "${value}"`);
  return n;
}

function list<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: readonly T[] = allowed): T[] {
  if (value === undefined) return [...fallback];
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

/** --blocks ours,peer,peerFast: three distinct loopback blocks "a.b" (127.a.b.x). */
function blocks(value: string | undefined): BenchOptions['blocks'] {
  if (value === undefined) return { ...DEFAULT_BLOCKS };
  const items = value.split(',').map((s) => s.trim());
  const valid = (block: string) => /^\d{1,3}\.\d{1,3}$/.test(block) && block.split('.').every((n) => Number(n) <= 255);
  if (items.length !== 3 || !items.every(valid) || new Set(items).size !== 3) {
    throw new Error(`--blocks takes three distinct loopback blocks a.b (127.a.b.x) for ours, Patroni and Patroni with the fast timing, e.g. ${Object.values(DEFAULT_BLOCKS).join(',')}; got "${value}"`);
  }
  const [ours, peer, peerFast] = items;
  return { ours, peer, peerFast };
}

/** --arm: 'unavailable' runs only in probe mode (in pools mode the app moves the writer through ARM). */
function armVariants(flags: RawFlags): ArmAvailabilityVariant[] {
  const variants = list('--arm', flags.arm, ARM_VARIANTS, ['available']);
  if (variants.includes('unavailable') && !list('--load-balancing', flags.loadBalancing, LOAD_BALANCING, DEFAULT_LOAD_BALANCING).includes('probe')) {
    throw new Error('--arm unavailable needs --load-balancing probe: in pools mode the app moves the writer through ARM, so nothing could complete without it');
  }
  return variants;
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
    loadBalancing: list('--load-balancing', flags.loadBalancing, LOAD_BALANCING, DEFAULT_LOAD_BALANCING),
    arm: armVariants(flags),
    faults: list('--fault', flags.fault, FAILOVER_FAULTS, ['kill']),
    durableBackend: one('--durable-backend', flags.durableBackend, ['dts', 'azure-storage'] as const),
    ours: flags.ours !== false,
    peer: flags.peer !== false,
    install: flags.install !== false,
    json: flags.json === true,
    commits: count('--commits', flags.commits, DEFAULTS.commits, 1),
    blocks: blocks(flags.blocks),
  };
}
