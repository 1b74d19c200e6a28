import Table from 'cli-table3';
import { Comparison, ScenarioResult } from './results';
import { formatMs, formatRatio } from './stats';
import { MachineInfo } from './machine';
import { OperationKind, PendingScenario } from './scenario';

const table = (head: string[]) => new Table({ style: { head: [], border: [] }, head });

const lost = (n: number | null) => (n === null ? '?' : String(n));

export function renderMachine(machine: MachineInfo): string {
  const t = new Table({ style: { head: [], border: [] } });
  t.push(
    { machine: `${machine.cpus.count} × ${machine.cpus.model}, ${machine.memoryMiB} MiB, ${machine.os}, ${machine.kernel}` },
    { 'load average (1/5/15 min)': `at start ${machine.loadAverage.atStart.join(' / ')}; at end ${machine.loadAverage.atEnd.join(' / ')}` },
    { node: machine.node },
    { PostgreSQL: machine.postgres },
    { Patroni: `${machine.patroni}; ${machine.pysyncobj}` },
    { HAProxy: machine.haproxy },
  );
  return t.toString();
}

/** Every run, one row each. */
export function renderRuns(results: ScenarioResult[], kind: OperationKind): string {
  const t = table(['scenario', 'run', 'from → to', 'outcome', 'write outage', 'outage from … to (ms after start)', 'lost commits', 'acked', 'failed attempts', 'total duration']);
  for (const result of results.filter((r) => r.kind === kind)) {
    if (result.runs.length === 0) {
      t.push([result.label, '-', '-', { colSpan: 7, content: result.status === 'measured' ? 'no runs' : `${result.status.toUpperCase()} (reason below)` }]);
      continue;
    }
    for (const run of result.runs) {
      t.push([
        result.label,
        String(run.run),
        `${run.from ?? '?'} → ${run.to ?? '?'}`,
        run.outcome === 'completed' ? 'completed' : `${run.outcome}${run.reason ? `: ${run.reason.slice(0, 60)}` : ''}`,
        formatMs(run.writeOutageMs),
        run.outageWindow ? `${run.outageWindow.fromMs} … ${run.outageWindow.toMs}` : '-',
        lost(run.lostCommits),
        String(run.acknowledgedCommits),
        String(run.failedAttempts),
        formatMs(run.totalDurationMs),
      ]);
    }
  }
  return t.toString();
}

/** Median and max per scenario, with the ratio ours / peer beside each of ours. */
export function renderSummary(results: ScenarioResult[], comparisons: Comparison[], kind: OperationKind): string {
  const t = table(['scenario', 'runs', 'write outage median', 'write outage max', 'lost commits (all runs)', 'total duration median', 'total duration max', 'outage ours/Patroni median', 'outage ours/Patroni max']);
  for (const result of results.filter((r) => r.kind === kind)) {
    const s = result.summary;
    const comparison = comparisons.find((c) => c.ours === result.id);
    const ratios = result.tool === 'patroni' ? ['(the peer)', '(the peer)'] : comparison ? [formatRatio(comparison.outageMedianRatio), formatRatio(comparison.outageMaxRatio)] : ['n/a', 'n/a'];
    const runs = `${s.writeOutageMs.n}/${result.plannedRuns}`;
    if (result.status === 'unavailable' || (result.status === 'failed' && s.writeOutageMs.n === 0)) {
      t.push([result.label, runs, { colSpan: 5, content: `NOT MEASURED (${result.status}; reason below)` }, ...ratios]);
      continue;
    }
    t.push([result.label, runs, formatMs(s.writeOutageMs.median), formatMs(s.writeOutageMs.max), lost(s.lostCommits.total), formatMs(s.totalDurationMs.median), formatMs(s.totalDurationMs.max), ...ratios]);
  }
  return t.toString();
}

/** Each step's median and max, per scenario (node names replaced by their roles). */
export function renderSteps(results: ScenarioResult[], kind: OperationKind): string {
  const t = table(['scenario', 'step', 'median', 'max', 'runs']);
  for (const result of results.filter((r) => r.kind === kind && r.summary.steps.length > 0)) {
    result.summary.steps.forEach((step, index) => {
      t.push([index === 0 ? result.label : '', step.name, formatMs(step.median), formatMs(step.max), String(step.n)]);
    });
  }
  return t.toString();
}

export function renderPending(pending: PendingScenario[], kind: OperationKind): string[] {
  return pending.filter((p) => p.kind === kind).map((p) => `${p.label}: ${p.reason} — no figure, no ratio`);
}
