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

/** Every run, one row each; failovers also show the first write on the new primary and the old primary's rejoin. */
export function renderRuns(results: ScenarioResult[], kind: OperationKind): string {
  const failover = kind === 'failover';
  const t = table([
    'scenario',
    'run',
    'from → to',
    'outcome',
    'write outage',
    'outage from … to (ms after start)',
    ...(failover ? ['first write on new primary (after kill)'] : []),
    'lost commits',
    'acked',
    'failed attempts',
    'total duration',
    ...(failover ? ['rejoin (restart → streaming)'] : []),
  ]);
  for (const result of results.filter((r) => r.kind === kind)) {
    if (result.runs.length === 0) {
      t.push([result.label, '-', '-', { colSpan: failover ? 9 : 7, content: result.status === 'measured' ? 'no runs' : `${result.status.toUpperCase()} (reason below)` }]);
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
        ...(failover ? [formatMs(run.firstCommitOnNewPrimaryMs)] : []),
        lost(run.lostCommits),
        String(run.acknowledgedCommits),
        String(run.failedAttempts),
        formatMs(run.totalDurationMs),
        ...(failover ? [formatMs(run.rejoinMs)] : []),
      ]);
    }
  }
  return t.toString();
}

/** Median and max per scenario, with the ratio ours / peer beside each of ours (failovers: against the peer with the same detection variant). */
export function renderSummary(results: ScenarioResult[], comparisons: Comparison[], kind: OperationKind): string {
  const failover = kind === 'failover';
  const t = table([
    'scenario',
    ...(failover ? ['detection settings'] : []),
    'runs',
    'write outage median',
    'write outage max',
    ...(failover ? ['first write after kill median', 'first write max'] : []),
    'lost commits (all runs)',
    'total duration median',
    'total duration max',
    ...(failover ? ['rejoin median'] : []),
    'outage ours/Patroni median',
    'outage ours/Patroni max',
  ]);
  for (const result of results.filter((r) => r.kind === kind)) {
    const s = result.summary;
    const comparison = comparisons.find((c) => c.ours === result.id);
    const ratios = result.tool === 'patroni' ? ['(the peer)', '(the peer)'] : comparison ? [formatRatio(comparison.outageMedianRatio), formatRatio(comparison.outageMaxRatio)] : ['n/a', 'n/a'];
    const runs = `${s.writeOutageMs.n}/${result.plannedRuns}`;
    const detection = failover ? [result.detection ?? '-'] : [];
    if (result.status === 'unavailable' || (result.status === 'failed' && s.writeOutageMs.n === 0)) {
      t.push([result.label, ...detection, runs, { colSpan: failover ? 8 : 5, content: `NOT MEASURED (${result.status}; reason below)` }, ...ratios]);
      continue;
    }
    t.push([
      result.label,
      ...detection,
      runs,
      formatMs(s.writeOutageMs.median),
      formatMs(s.writeOutageMs.max),
      ...(failover ? [formatMs(s.firstCommitOnNewPrimaryMs.median), formatMs(s.firstCommitOnNewPrimaryMs.max)] : []),
      lost(s.lostCommits.total),
      formatMs(s.totalDurationMs.median),
      formatMs(s.totalDurationMs.max),
      ...(failover ? [formatMs(s.rejoinMs.median)] : []),
      ...ratios,
    ]);
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
