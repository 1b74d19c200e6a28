import Table from 'cli-table3';
import { OperationReport } from '../../src/domain/operation';
import { StepRecord } from '../../src/domain/timeline';
import { LabStatus } from '../lab/lab';
import { renderStatus } from '../lab/lab-command';
import { renderSteps } from '../../cli/switchover-command';

/** What `npm run demo` reports, also printed as one JSON object with --json. */
export interface DemoReport {
  outcome: OperationReport['outcome'];
  reason?: string;
  operationId: string;
  oldPrimary?: string;
  newPrimary?: string;
  rejoinMethod?: string;
  /** Client-observed write outage (docs/outage.md). */
  writeOutageMs: number;
  acknowledgedCommits: number;
  lostCommits: number;
  failedAttempts: number;
  switchoverDurationMs: number;
  latencyProfile: string;
  problems: string[];
  steps: { name: string; startedAt: string; durationMs: number | null; result: StepRecord['result'] }[];
  topology: LabStatus;
}

export function renderDemoReport(report: DemoReport, operation: OperationReport): string {
  const summary = new Table({ style: { head: [], border: [] } });
  summary.push(
    { outcome: `${report.outcome}${report.reason ? ` (${report.reason})` : ''}` },
    { 'old primary → new primary': `${report.oldPrimary ?? '-'} → ${report.newPrimary ?? '-'}` },
    { 'rejoin method': report.rejoinMethod ?? '-' },
    { 'write outage (client-observed)': `${report.writeOutageMs} ms` },
    { 'switchover duration': `${report.switchoverDurationMs} ms` },
    { 'acknowledged commits': String(report.acknowledgedCommits) },
    { 'lost commits': String(report.lostCommits) },
    { 'Azure latency profile': report.latencyProfile },
  );
  const topology = { ...report.topology, connection: { ...report.topology.connection, password: '***' } };
  return [
    'Result',
    summary.toString(),
    ...report.problems.map((p) => `problem: ${p}`),
    '',
    'Steps',
    renderSteps(operation),
    '',
    'Final topology',
    renderStatus(topology),
  ].join('\n');
}
