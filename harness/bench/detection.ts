/**
 * How fast each tool may notice a dead primary, for the unplanned-failover comparison. Each
 * detection variant sets ours (the health check's schedule, failureThreshold, graceSeconds) and
 * Patroni (ttl, loop_wait, retry_timeout) to settings of the same order, so that the two failover
 * figures beside each other compare the failover, not two unrelated timeouts. Pure: the settings,
 * what they let one expect, and the text printed beside the figures.
 */
import type { LatencyProfile } from '../local/azure-emulator/latency';

export type DetectionName = 'standard' | 'fast';
export const DETECTION_NAMES: readonly DetectionName[] = ['standard', 'fast'];

/** The app setting the timer trigger's schedule comes from (src/functions/health-check.ts; not imported: that module registers the timer). */
export const HEALTH_CHECK_SCHEDULE_SETTING = 'HEALTH_CHECK_SCHEDULE';

export interface OurDetection {
  /** The health check runs every this many seconds (a divisor of 60, so the NCRONTAB schedule is evenly spaced). */
  everySeconds: number;
  failureThreshold: number;
  graceSeconds: number;
  probeTimeoutMs: number;
  /** Probe mode: the write lease's ttl (a failover promotes once the last renewal's has passed). */
  leaseTtlSeconds: number;
}

/** Patroni's DCS timing (bootstrap.dcs), in seconds. */
export interface PatroniTiming {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
}

export interface DetectionVariant {
  name: DetectionName;
  ours: OurDetection;
  patroni: PatroniTiming;
  /** Why these settings belong together. */
  rationale: string;
}

export const DETECTION: Record<DetectionName, DetectionVariant> = {
  standard: {
    name: 'standard',
    // Both tools' defaults: the app's default schedule and health policy, Patroni's DCS timing.
    ours: { everySeconds: 5, failureThreshold: 2, graceSeconds: 10, probeTimeoutMs: 3000, leaseTtlSeconds: 15 },
    patroni: { ttl: 30, loop_wait: 10, retry_timeout: 10 },
    rationale:
      "both tools' defaults: our health check every 5 s with failureThreshold 2 and graceSeconds 10, in probe mode leaseTtlSeconds 15; Patroni ttl 30 / loop_wait 10 / retry_timeout 10",
  },
  fast: {
    name: 'fast',
    ours: { everySeconds: 2, failureThreshold: 2, graceSeconds: 4, probeTimeoutMs: 1000, leaseTtlSeconds: 10 },
    patroni: { ttl: 10, loop_wait: 2, retry_timeout: 4 },
    rationale:
      'tuned for speed, not defaults: our health check every 2 s, failureThreshold 2, graceSeconds 4, probe timeout 1 s, in probe mode leaseTtlSeconds 10 (= Patroni\'s ttl); Patroni ttl 10 / loop_wait 2 / retry_timeout 4 (loop_wait + 2 × retry_timeout = ttl, the tightest Patroni accepts)',
  },
};

/** The 6-field NCRONTAB schedule (with seconds) that fires every `seconds` seconds, evenly spaced. */
export function everySecondsSchedule(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 59 || 60 % seconds !== 0) {
    throw new Error(`a health check every ${seconds} s cannot be an evenly spaced NCRONTAB schedule: use a whole divisor of 60 below 60`);
  }
  return `*/${seconds} * * * * *`;
}

/** Patroni requires loop_wait + 2 × retry_timeout ≤ ttl (its documentation); null when the timing is valid, else why not. */
export function patroniTimingProblem(timing: PatroniTiming): string | null {
  const { ttl, loop_wait, retry_timeout } = timing;
  if (![ttl, loop_wait, retry_timeout].every((v) => Number.isInteger(v) && v > 0)) return 'ttl, loop_wait and retry_timeout must be whole numbers of seconds above 0';
  if (loop_wait + 2 * retry_timeout > ttl) return `loop_wait + 2 × retry_timeout = ${loop_wait + 2 * retry_timeout} s exceeds ttl ${ttl} s`;
  return null;
}

export interface Window {
  /** Earliest and latest, in ms after the kill (the earliest is exclusive). */
  fromMs: number;
  toMs: number;
}

/**
 * When our health check starts the failover, in ms after the primary died, from the settings
 * alone (src/domain/health.ts): the first check after the death fails at f ∈ (0, every]; the
 * failover starts at the first later check that is at least the failureThreshold-th failing one
 * and at least graceSeconds after f: f + every × max(threshold − 1, ⌈grace / every⌉). The time a
 * check itself takes is not included.
 */
export function expectedOurDetection(d: OurDetection): Window {
  const every = d.everySeconds * 1000;
  const after = every * Math.max(d.failureThreshold - 1, Math.ceil((d.graceSeconds * 1000) / every));
  return { fromMs: after, toMs: after + every };
}

/**
 * When Patroni's leader key expires, in ms after the leader died: the leader last refreshed it
 * at most loop_wait before (it refreshes once per loop), and it expires ttl after that refresh.
 * The members then race for the key (with Raft they are woken by the expiry) and the winner
 * promotes; that part is not included.
 */
export function expectedPatroniLeaderExpiry(t: PatroniTiming): Window {
  return { fromMs: (t.ttl - t.loop_wait) * 1000, toMs: t.ttl * 1000 };
}

/**
 * Where in the check cycle run `run` of `runs` kills the primary: the fraction of the interval
 * elapsed since the last scheduled check, (run − ½) / runs, so that repeated runs sample the cycle
 * evenly and a single run lands mid-cycle. (Killing right after the check the bench waited for
 * would always give the slowest detection.)
 */
export function killPhase(run: number, runs: number): number {
  if (!Number.isInteger(run) || !Number.isInteger(runs) || runs < 1 || run < 1) throw new Error(`run ${run} of ${runs}?`);
  return (((run - 1) % runs) + 0.5) / runs;
}

/**
 * Where in the load balancer's probe interval run `run` of `runs` puts the probes (probe mode):
 * sampled evenly like the kill's phase, in the opposite order, so the two do not move in step. On
 * Azure the probes keep a phase of their own; kept at the one the lab started with, every run of a
 * row would wait the same part of an interval for the probe that admits the new primary.
 */
export function probePhase(run: number, runs: number): number {
  return 1 - killPhase(run, runs);
}

/**
 * The wall-clock moment (ms since the epoch) at or after `nowMs + minLeadMs` that lies `phase` of
 * an interval past a scheduled check. Checks run at whole multiples of `everySeconds` seconds
 * (an `*\/n` NCRONTAB seconds field with n dividing 60 fires at epoch multiples of n seconds).
 */
export function killMoment(nowMs: number, everySeconds: number, phase: number, minLeadMs = 0): number {
  const every = everySeconds * 1000;
  const earliest = nowMs + minLeadMs;
  let moment = Math.floor(earliest / every) * every + Math.round(phase * every);
  while (moment < earliest) moment += every;
  return moment;
}

/** True when the grace is a whole number of check intervals and decides the check: then a check that starts a millisecond early against the first failed one misses it, and the failover waits one interval more. */
export function graceOnCheckBoundary(d: OurDetection): boolean {
  const every = d.everySeconds * 1000;
  const grace = d.graceSeconds * 1000;
  return grace > 0 && grace % every === 0 && grace / every >= d.failureThreshold - 1;
}

const sec = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export function describeOurDetection(d: OurDetection): string {
  return `health check every ${d.everySeconds} s (HEALTH_CHECK_SCHEDULE "${everySecondsSchedule(d.everySeconds)}"), failureThreshold ${d.failureThreshold}, graceSeconds ${d.graceSeconds}, probeTimeoutMs ${d.probeTimeoutMs}`;
}

export function describePatroniTiming(t: PatroniTiming): string {
  return `ttl ${t.ttl} s, loop_wait ${t.loop_wait} s, retry_timeout ${t.retry_timeout} s`;
}

/** Short form for a table column. */
export function shortOurDetection(d: OurDetection): string {
  return `check every ${d.everySeconds} s, ${d.failureThreshold} failed + grace ${d.graceSeconds} s`;
}

export function shortPatroniTiming(t: PatroniTiming): string {
  return `ttl ${t.ttl} / loop_wait ${t.loop_wait} / retry ${t.retry_timeout}`;
}

/** The expectation printed beside the figures (a model of the settings, not a measurement). */
export function expectationLines(variant: DetectionVariant): string[] {
  const ours = expectedOurDetection(variant.ours);
  const peer = expectedPatroniLeaderExpiry(variant.patroni);
  return [
    `ours starts the failover ${sec(ours.fromMs)}–${sec(ours.toMs)} after the kill (depends on where in the check cycle the kill lands` +
      `${graceOnCheckBoundary(variant.ours) ? `; up to ${sec(ours.toMs + variant.ours.everySeconds * 1000)} when timer jitter makes the grace fall a millisecond short at the deciding check` : ''}), then runs it; ` +
      `Patroni's leader key expires ${sec(peer.fromMs)}–${sec(peer.toMs)} after the kill, then a member takes it and promotes`,
  ];
}

/** The Azure calls on our failover's path from the kill to the first write on the new primary, with the latency a profile gives each. */
export function failoverAzureCriticalPath(profile: LatencyProfile, policy: { fenceByPowerOff: boolean; promoteMethod: 'sql' | 'runCommand'; membership: 'nic' | 'ip' }): { step: string; ms: number }[] {
  const poolMs = policy.membership === 'nic' ? profile.nicUpdateMs : profile.poolUpdateMs;
  const path = [{ step: `fence: the old primary out of the pools (${policy.membership === 'nic' ? 'NIC' : 'backend pool'} update)`, ms: poolMs }];
  if (policy.fenceByPowerOff) path.push({ step: 'power off the old primary\'s VM (fenceByPowerOff)', ms: profile.powerOffMs });
  if (policy.promoteMethod === 'runCommand') path.push({ step: 'promote over Run Command', ms: profile.actionRunCommand.dispatchMs + profile.actionRunCommand.reportMs });
  path.push({ step: `repoint: the new primary into the write pool (${policy.membership === 'nic' ? 'NIC' : 'backend pool'} update)`, ms: poolMs });
  return path;
}
