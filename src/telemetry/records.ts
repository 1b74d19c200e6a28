import type { HttpResponseInit } from '@azure/functions';
import type { ClusterConfig } from '../config/schema';
import { ClusterView, nodeNamed, standbysOf } from '../domain/cluster-view';
import type { CheckRecord } from '../domain/health';
import { furthestLsn } from '../domain/candidates';
import { bytesBetween } from '../domain/lsn';
import type { OperationReport } from '../domain/operation';
import type { TelemetryRecord } from './names';

/**
 * What the app reports, built from what it already computed: an operation's final report, the
 * health check's observation and the monitor's verdict, a scheduled event's answer. Only names,
 * ids, counts, times and outcomes go out (src/telemetry/names.ts), never free text that could
 * quote a secret: reasons and step details (errors, script output) stay in the operation's report.
 */

const endOf = (step: { startedAt: string; durationMs?: number }): number => Date.parse(step.startedAt) + (step.durationMs ?? 0);

/** An operation that has ended: one event per step, one for the operation, and its outcome and duration as metrics. */
export function operationRecords(report: OperationReport, trigger: string): TelemetryRecord[] {
  const { operationId, cluster, kind, outcome } = report;
  const common = { operationId, cluster, kind, trigger, outcome };
  const steps: TelemetryRecord[] = report.steps.map((step, index) => ({
    event: 'operationStep',
    properties: { ...common, step: step.name, stepIndex: String(index), result: step.result, startedAt: step.startedAt, durationMs: String(step.durationMs ?? 0) },
  }));
  const first = report.steps[0];
  const durationMs = first ? Math.max(0, Math.max(...report.steps.map(endOf)) - Date.parse(first.startedAt)) : 0;
  return [
    ...steps,
    {
      event: 'operationEnded',
      properties: {
        ...common,
        oldPrimary: report.oldPrimary ?? '',
        newPrimary: report.newPrimary ?? '',
        rejoinMethod: report.rejoinMethod ?? '',
        problems: String(report.problems.length),
        startedAt: first?.startedAt ?? '',
        durationMs: String(durationMs),
      },
    },
    { metric: 'operations', value: 1, dimensions: { cluster, kind, outcome } },
    { metric: 'operationDurationMs', value: durationMs, dimensions: { cluster, kind, outcome } },
  ];
}

/**
 * Bytes of WAL each reachable standby has not received from the write pool's primary (what a
 * failover now would lose). None without a reachable primary in the write pool.
 */
export function replicationLag(view: ClusterView): { node: string; bytes: number }[] {
  const primary = view.pools.write.length === 1 ? nodeNamed(view, view.pools.write[0]) : undefined;
  if (!primary?.reachable || primary.role !== 'primary' || !primary.currentLsn) return [];
  const head = primary.currentLsn;
  return standbysOf(view).flatMap((standby) => {
    const received = furthestLsn(standby);
    return received ? [{ node: standby.name, bytes: Math.max(0, bytesBetween(received, head)) }] : [];
  });
}

/**
 * One health check of one cluster: each standby's lag with the cluster's failover bound (an alert
 * compares the two), and the monitor's latest verdict, counted once per check it made (`newCheck`).
 */
export function healthCheckRecords(cluster: ClusterConfig, seen: { view: ClusterView; lastCheck: CheckRecord | null; newCheck: boolean } | { failed: true }): TelemetryRecord[] {
  if ('failed' in seen) return [{ event: 'healthCheck', properties: { cluster: cluster.name, result: 'failed', verdict: '', checkAt: '' } }];
  const failoverBoundBytes = String(cluster.policy.maxLagBytesForFailover);
  const check = seen.lastCheck;
  return [
    ...replicationLag(seen.view).map((lag): TelemetryRecord => ({ metric: 'replicationLagBytes', value: lag.bytes, dimensions: { cluster: cluster.name, node: lag.node, failoverBoundBytes } })),
    { event: 'healthCheck', properties: { cluster: cluster.name, result: 'observed', verdict: check?.verdict ?? '', checkAt: check?.at ?? '' } },
    ...(check && seen.newCheck ? [{ metric: 'healthVerdicts', value: 1, dimensions: { cluster: cluster.name, verdict: check.verdict } } satisfies TelemetryRecord] : []),
  ];
}

/**
 * What the app answered an agent that forwarded a scheduled event. A 4xx or 5xx is a failed
 * forwarding: the event then starts at its NotBefore time, uncoordinated.
 */
export function scheduledEventRecords(answer: { cluster: string; node: string; eventType: string; response: HttpResponseInit }): TelemetryRecord[] {
  const status = answer.response.status ?? 200;
  const body = answer.response.jsonBody as { verdict?: unknown } | undefined;
  return [
    {
      event: 'scheduledEvent',
      properties: {
        cluster: answer.cluster,
        node: answer.node,
        eventType: answer.eventType,
        status: String(status),
        verdict: typeof body?.verdict === 'string' ? body.verdict : '',
        result: status >= 400 ? 'failed' : 'answered',
      },
    },
  ];
}
