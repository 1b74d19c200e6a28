import { median, max, ratio, Summary, summarize } from './stats';
import { OperationKind, PendingScenario, RunResult, Scenario, Tool } from './scenario';

export interface StepSummary {
  name: string;
  n: number;
  median: number | null;
  max: number | null;
}

export interface ScenarioResult {
  id: string;
  tool: Tool;
  kind: OperationKind;
  label: string;
  variant: Record<string, string>;
  /** Failover: the detection settings in force. */
  detection?: string;
  environment: string;
  /** measured: every run done; partial: some runs, then an error; unavailable: the tool could not be installed or started; failed: no run succeeded. */
  status: 'measured' | 'partial' | 'unavailable' | 'failed';
  reason?: string;
  plannedRuns: number;
  runs: RunResult[];
  summary: {
    writeOutageMs: Summary;
    totalDurationMs: Summary;
    firstCommitOnNewPrimaryMs: Summary;
    rejoinMs: Summary;
    lostCommits: { total: number | null; maxPerRun: number | null };
    steps: StepSummary[];
  };
}

export interface Comparison {
  kind: OperationKind;
  ours: string;
  peer: string;
  /** ours / peer of the median write outage, and of the max; null when either was not measured. */
  outageMedianRatio: number | null;
  outageMaxRatio: number | null;
  totalDurationMedianRatio: number | null;
  /** ours / peer of the median time to the first commit on the new primary. */
  firstCommitMedianRatio: number | null;
}

const completed = (runs: RunResult[]) => runs.filter((r) => r.outcome === 'completed');

/** Statistics over a scenario's completed runs; steps are aggregated by (role-normalised) name in first-seen order. */
export function scenarioResult(scenario: Scenario | PendingScenario, environment: string, runs: RunResult[], status: ScenarioResult['status'], reason?: string): ScenarioResult {
  const done = completed(runs);
  const stepNames = [...new Set(done.flatMap((r) => r.steps.map((s) => s.name)))];
  const lost = done.map((r) => r.lostCommits).filter((n): n is number => n !== null);
  return {
    id: scenario.id,
    tool: scenario.tool,
    kind: scenario.kind,
    label: scenario.label,
    variant: 'variant' in scenario ? scenario.variant : {},
    ...('detection' in scenario && scenario.detection ? { detection: scenario.detection } : {}),
    environment,
    status,
    ...(reason ? { reason } : {}),
    plannedRuns: 'runs' in scenario ? scenario.runs : 0,
    runs,
    summary: {
      writeOutageMs: summarize(done.map((r) => r.writeOutageMs)),
      totalDurationMs: summarize(done.map((r) => r.totalDurationMs)),
      firstCommitOnNewPrimaryMs: summarize(done.map((r) => r.firstCommitOnNewPrimaryMs)),
      rejoinMs: summarize(done.map((r) => r.rejoinMs)),
      lostCommits: { total: lost.length ? lost.reduce((a, b) => a + b, 0) : null, maxPerRun: max(lost) },
      steps: stepNames.map((name) => {
        const durations = done.flatMap((r) => r.steps.filter((s) => s.name === name).map((s) => s.durationMs)).filter((d): d is number => d !== null);
        return { name, n: durations.length, median: median(durations), max: max(durations) };
      }),
    },
  };
}

/**
 * The peer's scenario ours is compared with: same kind, detection variant and fault (none for
 * switchovers), and the peer behind the front of our latency profile — HAProxy beside our zero
 * rows, Azure's load balancer probe beside our realistic ones; never one with other settings.
 */
export function peerOf(ours: Pick<ScenarioResult, 'kind' | 'variant'>, results: ScenarioResult[]): ScenarioResult | undefined {
  const same = (key: string, r: Pick<ScenarioResult, 'variant'>) => (r.variant[key] ?? null) === (ours.variant[key] ?? null);
  const sameLatency = (r: Pick<ScenarioResult, 'variant'>) => (r.variant.latency ?? 'zero') === (ours.variant.latency ?? 'zero');
  return results.find((r) => r.tool === 'patroni' && r.kind === ours.kind && same('detection', r) && same('fault', r) && sameLatency(r));
}

/** Every one of our scenarios against the peer's scenario of the same kind, detection settings and fault, measured in the same run. */
export function compare(results: ScenarioResult[]): Comparison[] {
  const comparisons: Comparison[] = [];
  for (const ours of results.filter((r) => r.tool === 'ours')) {
    const peer = peerOf(ours, results);
    if (!peer) continue;
    comparisons.push({
      kind: ours.kind,
      ours: ours.id,
      peer: peer.id,
      outageMedianRatio: ratio(ours.summary.writeOutageMs.median, peer.summary.writeOutageMs.median),
      outageMaxRatio: ratio(ours.summary.writeOutageMs.max, peer.summary.writeOutageMs.max),
      totalDurationMedianRatio: ratio(ours.summary.totalDurationMs.median, peer.summary.totalDurationMs.median),
      firstCommitMedianRatio: ratio(ours.summary.firstCommitOnNewPrimaryMs.median, peer.summary.firstCommitOnNewPrimaryMs.median),
    });
  }
  return comparisons;
}
