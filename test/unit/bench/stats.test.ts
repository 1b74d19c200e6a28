import { formatMs, formatRatio, max, median, ratio, summarize } from '../../../harness/bench/stats';
import { compare, scenarioResult } from '../../../harness/bench/results';
import { stepRole } from '../../../harness/bench/measure';
import { RunResult } from '../../../harness/bench/scenario';

describe('benchmark statistics', () => {
  it('takes the median of an odd count as the middle value, whatever the order', () => {
    expect(median([5])).toBe(5);
    expect(median([900, 300, 500])).toBe(500);
    expect(median([3, 1, 2, 5, 4])).toBe(3);
  });

  it('takes the median of an even count as the mean of the two middle values', () => {
    expect(median([1, 2])).toBe(1.5);
    expect(median([400, 100, 300, 200])).toBe(250);
  });

  it('sorts numerically, not as text', () => {
    expect(median([1000, 90, 200])).toBe(200);
    expect(max([1000, 90, 200])).toBe(1000);
  });

  it('has no median or max without values', () => {
    expect(median([])).toBeNull();
    expect(max([])).toBeNull();
    expect(summarize([])).toEqual({ n: 0, median: null, max: null });
  });

  it('summarizes only the runs that produced a number', () => {
    expect(summarize([120, null, 80, undefined, 100, Number.NaN])).toEqual({ n: 3, median: 100, max: 120 });
  });

  it('gives ours / peer as the ratio, and none without both figures or with a zero peer', () => {
    expect(ratio(500, 2000)).toBe(0.25);
    expect(ratio(3000, 1500)).toBe(2);
    expect(ratio(null, 1500)).toBeNull();
    expect(ratio(500, null)).toBeNull();
    expect(ratio(500, 0)).toBeNull();
    expect(ratio(0, 500)).toBe(0);
  });

  it('formats ratios and durations for the table', () => {
    expect(formatRatio(0.25)).toBe('0.25×');
    expect(formatRatio(0.0412)).toBe('0.041×');
    expect(formatRatio(null)).toBe('n/a');
    expect(formatMs(529.4)).toBe('529 ms');
    expect(formatMs(61_234)).toBe('61.2 s');
    expect(formatMs(null)).toBe('-');
  });
});

describe('benchmark summaries and ratios', () => {
  const run = (n: number, outage: number, total: number, lost = 0, outcome = 'completed'): RunResult => ({
    run: n,
    from: 'pg1',
    to: 'pg2',
    outcome,
    writeOutageMs: outage,
    outageWindow: null,
    acknowledgedCommits: 400,
    lostCommits: lost,
    lostCommitIds: [],
    failedAttempts: 0,
    commitsElsewhereAfterNewPrimary: 0,
    totalDurationMs: total,
    firstCommitOnNewPrimaryMs: outage,
    steps: [{ name: 'promote <new>', durationMs: total / 10, result: 'ok' }],
    details: {},
  });
  const scenario = (id: string, tool: 'ours' | 'patroni') => ({ id, tool, kind: 'switchover' as const, label: id, reason: '' });

  it('summarizes completed runs only and compares ours with the peer of the same kind', () => {
    const ours = scenarioResult(scenario('ours/switchover/sql/zero', 'ours'), 'env', [run(1, 400, 1500), run(2, 600, 1700), run(3, 9999, 9999, 0, 'aborted')], 'partial');
    const peer = scenarioResult(scenario('patroni/switchover', 'patroni'), 'env', [run(1, 4000, 14000), run(2, 3000, 13000), run(3, 2000, 12000)], 'measured');
    expect(ours.summary.writeOutageMs).toEqual({ n: 2, median: 500, max: 600 });
    expect(ours.summary.steps).toEqual([{ name: 'promote <new>', n: 2, median: 160, max: 170 }]);
    expect(compare([ours, peer])).toEqual([
      {
        kind: 'switchover',
        ours: 'ours/switchover/sql/zero',
        peer: 'patroni/switchover',
        outageMedianRatio: 500 / 3000,
        outageMaxRatio: 600 / 4000,
        totalDurationMedianRatio: 1600 / 13000,
        firstCommitMedianRatio: 500 / 3000,
      },
    ]);
  });

  it('has no ratio when the peer was not measured', () => {
    const ours = scenarioResult(scenario('ours/switchover/sql/zero', 'ours'), 'env', [run(1, 400, 1500)], 'measured');
    const peer = scenarioResult(scenario('patroni/switchover', 'patroni'), 'env', [], 'unavailable', 'Patroni could not be installed');
    expect(compare([ours, peer])[0]).toMatchObject({ outageMedianRatio: null, outageMaxRatio: null });
  });

  it('lines steps up across runs by the role each node played', () => {
    const roles = { old: 'pg1', new: 'pg2', nodes: ['pg1', 'pg2', 'pg3'] };
    expect(stepRole('pg3 follows pg2', roles)).toBe('<other> follows <new>');
    expect(stepRole('rejoin pg1', roles)).toBe('rejoin <old>');
    expect(stepRole('pg10 is not pg1', { ...roles, nodes: ['pg1'] })).toBe('pg10 is not <old>');
  });
});
