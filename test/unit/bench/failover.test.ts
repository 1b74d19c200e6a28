import {
  DETECTION,
  everySecondsSchedule,
  expectedOurDetection,
  expectedPatroniLeaderExpiry,
  failoverAzureCriticalPath,
  graceOnCheckBoundary,
  killMoment,
  killPhase,
  probePhase,
  patroniTimingProblem,
} from '../../../harness/bench/detection';
import { firstCommitAfter } from '../../../harness/bench/measure';
import { PolicySchema } from '../../../src/config/schema';
import { compare, peerOf, scenarioResult } from '../../../harness/bench/results';
import { failoverPromoteMethod, resolveOptions } from '../../../harness/bench/options';
import { patroniDcs, patroniNodeConfig, patroniLayout } from '../../../harness/bench/patroni/config';
import { RunResult } from '../../../harness/bench/scenario';
import { ZERO_LATENCY, REALISTIC_LATENCY } from '../../../harness/local/azure-emulator/latency';
import { parseSchedule } from '../../../harness/local/runtime/timers/ncrontab';

describe('failover detection settings', () => {
  it('pairs our defaults with Patroni defaults, and a fast variant for both', () => {
    // The standard variant is the app's defaults, whatever they become.
    const policy = PolicySchema.parse({});
    expect(DETECTION.standard.ours).toEqual({ everySeconds: 5, ...policy.health, leaseTtlSeconds: policy.leaseTtlSeconds });
    // src/functions/health-check.ts DEFAULT_HEALTH_CHECK_SCHEDULE (that module registers the timer when imported).
    expect(everySecondsSchedule(DETECTION.standard.ours.everySeconds)).toBe('*/5 * * * * *');
    expect(DETECTION.standard.patroni).toEqual({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    expect(DETECTION.fast.ours).toMatchObject({ everySeconds: 2, failureThreshold: 2, graceSeconds: 4, leaseTtlSeconds: 10 });
    expect(DETECTION.fast.patroni).toEqual({ ttl: 10, loop_wait: 2, retry_timeout: 4 });
  });

  it('writes an evenly spaced 6-field NCRONTAB schedule the runtime parses to that interval', () => {
    expect(everySecondsSchedule(10)).toBe('*/10 * * * * *');
    expect(everySecondsSchedule(2)).toBe('*/2 * * * * *');
    const schedule = parseSchedule(everySecondsSchedule(2));
    const t0 = Date.UTC(2026, 0, 1, 0, 0, 0, 500);
    const first = schedule.next(t0);
    expect(first).toBe(Date.UTC(2026, 0, 1, 0, 0, 2));
    expect(schedule.next(first) - first).toBe(2000);
  });

  it('refuses intervals that are not whole divisors of 60 (the schedule would not be evenly spaced)', () => {
    expect(() => everySecondsSchedule(7)).toThrow(/divisor of 60/);
    expect(() => everySecondsSchedule(0)).toThrow();
    expect(() => everySecondsSchedule(60)).toThrow();
    expect(() => everySecondsSchedule(1.5)).toThrow();
  });

  it("accepts Patroni timing only when loop_wait + 2 × retry_timeout ≤ ttl", () => {
    expect(patroniTimingProblem(DETECTION.standard.patroni)).toBeNull();
    expect(patroniTimingProblem(DETECTION.fast.patroni)).toBeNull();
    expect(patroniTimingProblem({ ttl: 10, loop_wait: 5, retry_timeout: 4 })).toMatch(/13 s exceeds ttl 10 s/);
    expect(patroniTimingProblem({ ttl: 30, loop_wait: 0, retry_timeout: 10 })).toMatch(/whole numbers/);
    expect(() => patroniDcs({ ttl: 10, loop_wait: 5, retry_timeout: 4 })).toThrow(/Patroni timing refused/);
  });

  it('writes the variant timing into Patroni bootstrap DCS, keeping the other settings', () => {
    const layout = patroniLayout('/tmp/x', '60.3', '/usr/lib/postgresql/15/bin');
    const credentials = { superuser: { username: 'postgres', password: 'a' }, replication: { username: 'replicator', password: 'b' }, app: { user: 'app', password: 'c', database: 'appdb' } };
    const config = JSON.parse(patroniNodeConfig(layout, layout.nodes[0], credentials, patroniDcs(DETECTION.fast.patroni)));
    expect(config.bootstrap.dcs).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 4, maximum_lag_on_failover: 1048576, synchronous_mode: false });
    const standard = JSON.parse(patroniNodeConfig(layout, layout.nodes[0], credentials));
    expect(standard.bootstrap.dcs).toMatchObject({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
  });

  it('expects our failover to start after max(threshold − 1, ⌈grace / interval⌉) intervals past the first failed check', () => {
    // Standard: the first failed check 0-5 s after the kill, then grace 10 s (2 more checks) outweighs the threshold (1 more).
    expect(expectedOurDetection(DETECTION.standard.ours)).toEqual({ fromMs: 10_000, toMs: 15_000 });
    // Fast: grace 4 s = 2 intervals outweighs threshold 2 (1 more check).
    expect(expectedOurDetection(DETECTION.fast.ours)).toEqual({ fromMs: 4000, toMs: 6000 });
    // The threshold decides when the grace is short.
    expect(expectedOurDetection({ everySeconds: 10, failureThreshold: 5, graceSeconds: 0, probeTimeoutMs: 1000, leaseTtlSeconds: 30 })).toEqual({ fromMs: 40_000, toMs: 50_000 });
    // A grace that is not a whole number of intervals waits for the next check.
    expect(expectedOurDetection({ everySeconds: 10, failureThreshold: 1, graceSeconds: 25, probeTimeoutMs: 1000, leaseTtlSeconds: 30 })).toEqual({ fromMs: 30_000, toMs: 40_000 });
  });

  it("expects Patroni's leader key to expire between ttl − loop_wait and ttl after the kill", () => {
    expect(expectedPatroniLeaderExpiry(DETECTION.standard.patroni)).toEqual({ fromMs: 20_000, toMs: 30_000 });
    expect(expectedPatroniLeaderExpiry(DETECTION.fast.patroni)).toEqual({ fromMs: 8000, toMs: 10_000 });
  });

  it('lists the Azure calls on our failover path before the first write, with the profile latency of each', () => {
    const path = failoverAzureCriticalPath(REALISTIC_LATENCY, { fenceByPowerOff: true, promoteMethod: 'sql', membership: 'nic' });
    expect(path.map((p) => p.ms)).toEqual([10_000, 30_000, 10_000]);
    const runCommand = failoverAzureCriticalPath(REALISTIC_LATENCY, { fenceByPowerOff: false, promoteMethod: 'runCommand', membership: 'ip' });
    expect(runCommand.map((p) => p.ms)).toEqual([10_000, 20_000, 10_000]);
    expect(failoverAzureCriticalPath(ZERO_LATENCY, { fenceByPowerOff: true, promoteMethod: 'runCommand', membership: 'nic' }).every((p) => p.ms === 0)).toBe(true);
  });
});

describe('failover figures', () => {
  it('takes the first commit the final primary acknowledged after the kill', () => {
    const commits = [
      { id: 1, server: '10.0.0.1', at: 100 },
      { id: 2, server: '10.0.0.1', at: 150 },
      { id: 3, server: '10.0.0.2', at: 9100 },
      { id: 4, server: '10.0.0.2', at: 9110 },
    ];
    expect(firstCommitAfter(commits, '10.0.0.2', 120)).toBe(8980);
    expect(firstCommitAfter(commits, '10.0.0.1', 120)).toBe(30);
    expect(firstCommitAfter(commits, '10.0.0.3', 120)).toBeNull();
    expect(firstCommitAfter(commits, null, 120)).toBeNull();
    expect(firstCommitAfter(commits, '10.0.0.2', 9200)).toBeNull();
  });

  const run = (n: number, outage: number, firstWrite: number, rejoin: number): RunResult => ({
    run: n,
    from: 'pg1',
    to: 'pg2',
    outcome: 'completed',
    writeOutageMs: outage,
    outageWindow: null,
    acknowledgedCommits: 400,
    lostCommits: 0,
    lostCommitIds: [],
    failedAttempts: 3,
    commitsElsewhereAfterNewPrimary: 0,
    totalDurationMs: outage + rejoin,
    firstCommitOnNewPrimaryMs: firstWrite,
    rejoinMs: rejoin,
    steps: [],
    details: {},
  });
  const failover = (id: string, tool: 'ours' | 'patroni', detection: string) => ({ id, tool, kind: 'failover' as const, label: id, variant: { detection }, runs: 1 });

  it('compares each of our failovers with Patroni measured with the same detection variant, never another', () => {
    const oursStandard = scenarioResult(failover('ours/failover/sql/zero/standard', 'ours', 'standard') as never, 'env', [run(1, 36_000, 36_100, 14_000)], 'measured');
    const oursFast = scenarioResult(failover('ours/failover/sql/zero/fast', 'ours', 'fast') as never, 'env', [run(1, 6000, 6100, 9000)], 'measured');
    const peerStandard = scenarioResult(failover('patroni/failover/standard', 'patroni', 'standard') as never, 'env', [run(1, 30_000, 30_500, 12_000)], 'measured');
    const results = [oursStandard, oursFast, peerStandard];
    expect(oursStandard.summary.firstCommitOnNewPrimaryMs).toEqual({ n: 1, median: 36_100, max: 36_100 });
    expect(oursStandard.summary.rejoinMs).toEqual({ n: 1, median: 14_000, max: 14_000 });
    expect(peerOf(oursStandard, results)?.id).toBe('patroni/failover/standard');
    // No Patroni with the fast timing in this run: no ratio rather than one against other settings.
    expect(peerOf(oursFast, results)).toBeUndefined();
    const comparisons = compare(results);
    expect(comparisons).toHaveLength(1);
    expect(comparisons[0]).toMatchObject({ kind: 'failover', ours: 'ours/failover/sql/zero/standard', peer: 'patroni/failover/standard', outageMedianRatio: 1.2, firstCommitMedianRatio: 36_100 / 30_500 });
  });

  it('still compares switchovers (no detection variant) with the peer switchover', () => {
    const ours = scenarioResult({ id: 'ours/switchover/sql/zero', tool: 'ours', kind: 'switchover', label: 'o', variant: { promoteMethod: 'sql', latency: 'zero' }, runs: 1 } as never, 'env', [run(1, 500, 500, 0)], 'measured');
    const peerFailover = scenarioResult(failover('patroni/failover/standard', 'patroni', 'standard') as never, 'env', [run(1, 30_000, 30_000, 0)], 'measured');
    const peerSwitchover = scenarioResult({ id: 'patroni/switchover', tool: 'patroni', kind: 'switchover', label: 'p', variant: {}, runs: 1 } as never, 'env', [run(1, 4000, 4000, 0)], 'measured');
    expect(peerOf(ours, [peerFailover, peerSwitchover])?.id).toBe('patroni/switchover');
  });
});

describe('bench options for failovers', () => {
  it('runs one failover per tool and detection variant by default, none with --quick, none realistic unless asked', () => {
    expect(resolveOptions({})).toMatchObject({ failoverRuns: 1, realisticFailoverRuns: 0, detection: ['standard', 'fast'] });
    expect(resolveOptions({ quick: true })).toMatchObject({ failoverRuns: 0, realisticFailoverRuns: 0 });
    expect(resolveOptions({ quick: true, failoverRuns: '2', detection: 'fast' })).toMatchObject({ failoverRuns: 2, detection: ['fast'] });
    expect(resolveOptions({ realisticFailoverRuns: '1' }).realisticFailoverRuns).toBe(1);
    expect(() => resolveOptions({ detection: 'slow' })).toThrow(/--detection takes a comma-separated list of standard, fast/);
  });

  it('fails over with the SQL promotion path unless only Run Command was asked for', () => {
    expect(failoverPromoteMethod({ methods: ['sql', 'runCommand'] })).toBe('sql');
    expect(failoverPromoteMethod({ methods: ['runCommand'] })).toBe('runCommand');
  });
});

describe('where in the check cycle the kill lands', () => {
  it('spreads the runs evenly over the cycle, mid-cycle for a single run', () => {
    expect(killPhase(1, 1)).toBe(0.5);
    expect([1, 2, 3, 4].map((r) => killPhase(r, 4))).toEqual([0.125, 0.375, 0.625, 0.875]);
    expect(() => killPhase(0, 1)).toThrow();
  });

  it("spreads the load balancer's probe phase over the runs too, in the opposite order to the kill's", () => {
    expect(probePhase(1, 1)).toBe(0.5);
    [5 / 6, 0.5, 1 / 6].forEach((phase, i) => expect(probePhase(i + 1, 3)).toBeCloseTo(phase, 12));
    expect([1, 2, 3].map((r) => killPhase(r, 3))).toEqual([1 / 6, 0.5, 5 / 6]);
    expect(() => probePhase(0, 1)).toThrow();
  });

  it('picks the next moment that phase past a scheduled check, at least the lead time away', () => {
    const minute = Date.UTC(2026, 0, 1, 0, 0, 0);
    // Checks every 10 s at :00, :10, …; half a cycle past one is :05, :15, …
    expect(killMoment(minute + 1200, 10, 0.5)).toBe(minute + 5000);
    expect(killMoment(minute + 5000, 10, 0.5)).toBe(minute + 5000);
    expect(killMoment(minute + 5001, 10, 0.5)).toBe(minute + 15_000);
    expect(killMoment(minute + 4950, 10, 0.5, 100)).toBe(minute + 15_000);
    expect(killMoment(minute + 59_900, 2, 0.25)).toBe(minute + 60_500);
  });

  it('knows when the grace is a whole number of intervals that decides the check (a millisecond of jitter costs one interval)', () => {
    expect(graceOnCheckBoundary(DETECTION.standard.ours)).toBe(true);
    expect(graceOnCheckBoundary(DETECTION.fast.ours)).toBe(true);
    expect(graceOnCheckBoundary({ everySeconds: 10, failureThreshold: 3, graceSeconds: 25, probeTimeoutMs: 1000, leaseTtlSeconds: 30 })).toBe(false);
    expect(graceOnCheckBoundary({ everySeconds: 10, failureThreshold: 5, graceSeconds: 20, probeTimeoutMs: 1000, leaseTtlSeconds: 30 })).toBe(false);
    expect(graceOnCheckBoundary({ everySeconds: 10, failureThreshold: 3, graceSeconds: 0, probeTimeoutMs: 1000, leaseTtlSeconds: 30 })).toBe(false);
  });
});
