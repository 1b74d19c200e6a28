import type { CheckRecord } from '../../../src/domain/health';
import type { OperationReport } from '../../../src/domain/operation';
import { TELEMETRY_EVENTS, TELEMETRY_METRICS } from '../../../src/telemetry/names';
import { healthCheckRecords, operationRecords, replicationLag, scheduledEventRecords } from '../../../src/telemetry/records';
import { readTelemetrySettings } from '../../../src/telemetry/settings';
import { down, primary, standby, testCluster, view } from '../../support/views';

const report: OperationReport = {
  operationId: 'orders-switchover-1',
  kind: 'switchover',
  cluster: 'orders',
  outcome: 'aborted',
  reason: 'aborted before promotion: pg2 could not be probed (password authentication failed for "admin")',
  oldPrimary: 'pg1',
  newPrimary: 'pg2',
  problems: [],
  steps: [
    { name: 'claim cluster', startedAt: '2026-05-01T10:00:00.000Z', durationMs: 40, result: 'ok' },
    { name: 'drain primary', startedAt: '2026-05-01T10:00:00.100Z', durationMs: 900, result: 'ok', detail: { pausedRoles: ['app'] } },
    { name: 'wait for candidate', startedAt: '2026-05-01T10:00:01.000Z', durationMs: 30_000, result: 'failed', detail: { error: 'timeout' } },
    { name: 'undo: resume application logins', startedAt: '2026-05-01T10:00:31.000Z', durationMs: 500, result: 'ok' },
  ],
};

describe('operation records', () => {
  const records = operationRecords(report, 'http');

  it('one event per step, in order, with the operation it belongs to and how it ended', () => {
    const steps = records.filter((r) => 'event' in r && r.event === 'operationStep').map((r) => ('event' in r ? r.properties : null));
    expect(steps).toEqual(
      report.steps.map((step, index) => ({
        operationId: 'orders-switchover-1',
        cluster: 'orders',
        kind: 'switchover',
        trigger: 'http',
        outcome: 'aborted',
        step: step.name,
        stepIndex: String(index),
        result: step.result,
        startedAt: step.startedAt,
        durationMs: String(step.durationMs),
      })),
    );
  });

  it("the operation's end, outcome and duration (first step's start to the last step's end)", () => {
    expect(records.slice(report.steps.length)).toEqual([
      {
        event: 'operationEnded',
        properties: {
          operationId: 'orders-switchover-1',
          cluster: 'orders',
          kind: 'switchover',
          trigger: 'http',
          outcome: 'aborted',
          oldPrimary: 'pg1',
          newPrimary: 'pg2',
          rejoinMethod: '',
          problems: '0',
          startedAt: '2026-05-01T10:00:00.000Z',
          durationMs: '31500',
        },
      },
      { metric: 'operations', value: 1, dimensions: { cluster: 'orders', kind: 'switchover', outcome: 'aborted' } },
      { metric: 'operationDurationMs', value: 31_500, dimensions: { cluster: 'orders', kind: 'switchover', outcome: 'aborted' } },
    ]);
  });

  it('never carries free text: not the reason, not a step detail', () => {
    const text = JSON.stringify(records);
    expect(text).not.toContain('password');
    expect(text).not.toContain('timeout');
    expect(text).not.toContain('pausedRoles');
  });

  it('an operation refused before its first step ends still reports, with no duration', () => {
    expect(operationRecords({ ...report, outcome: 'refused', steps: [] }, 'health-check').at(-1)).toEqual({
      metric: 'operationDurationMs',
      value: 0,
      dimensions: { cluster: 'orders', kind: 'switchover', outcome: 'refused' },
    });
  });
});

describe('replication lag', () => {
  it("each reachable standby's distance from the write pool's primary, in bytes", () => {
    const cluster = view([primary('pg1', '0/3000100', ['pg2']), standby('pg2', 'pg1', '0/3000000'), standby('pg3', 'pg1', null, '0/2000100')]);
    expect(replicationLag(cluster)).toEqual([
      { node: 'pg2', bytes: 0x100 },
      { node: 'pg3', bytes: 0x1000000 },
    ]);
  });

  it('none without a reachable primary in the write pool, and none for an unreachable standby', () => {
    expect(replicationLag(view([down('pg1'), standby('pg2', 'pg1', '0/3000000')]))).toEqual([]);
    expect(replicationLag({ ...view([primary('pg1', '0/3000000'), standby('pg2', 'pg1', '0/3000000')]), pools: { write: [], read: ['pg2'] } })).toEqual([]);
    expect(replicationLag(view([primary('pg1', '0/3000000'), down('pg2')]))).toEqual([]);
  });
});

describe('health check records', () => {
  const cluster = testCluster();
  const check: CheckRecord = { at: '2026-05-01T10:00:00.000Z', verdict: 'degraded', summary: 'pg3 is not streaming', findings: [], action: null, suppressed: null };
  const seen = view([primary('pg1', '0/3000100', ['pg2']), standby('pg2', 'pg1', '0/3000000')]);

  it("lag with the cluster's failover bound, the run, and the monitor's verdict counted once", () => {
    expect(healthCheckRecords(cluster, { view: seen, lastCheck: check, newCheck: true })).toEqual([
      { metric: 'replicationLagBytes', value: 0x100, dimensions: { cluster: cluster.name, node: 'pg2', failoverBoundBytes: String(cluster.policy.maxLagBytesForFailover) } },
      { event: 'healthCheck', properties: { cluster: cluster.name, result: 'observed', verdict: 'degraded', checkAt: check.at } },
      { metric: 'healthVerdicts', value: 1, dimensions: { cluster: cluster.name, verdict: 'degraded' } },
    ]);
    expect(healthCheckRecords(cluster, { view: seen, lastCheck: check, newCheck: false }).map((r) => ('event' in r ? r.event : r.metric))).toEqual(['replicationLagBytes', 'healthCheck']);
  });

  it('a run that could not observe the cluster says so', () => {
    expect(healthCheckRecords(cluster, { failed: true })).toEqual([{ event: 'healthCheck', properties: { cluster: cluster.name, result: 'failed', verdict: '', checkAt: '' } }]);
  });
});

describe('scheduled event records', () => {
  it('an answer is "answered", an error status "failed", with the verdict when there is one', () => {
    const approve = scheduledEventRecords({ cluster: 'orders', node: 'pg2', eventType: 'Reboot', response: { status: 200, jsonBody: { verdict: 'approve' } } });
    expect(approve).toEqual([{ event: 'scheduledEvent', properties: { cluster: 'orders', node: 'pg2', eventType: 'Reboot', status: '200', verdict: 'approve', result: 'answered' } }]);
    const failed = scheduledEventRecords({ cluster: 'orders', node: 'pg9', eventType: '', response: { status: 404, jsonBody: { title: 'Not found' } } });
    expect(failed[0]).toMatchObject({ properties: { status: '404', verdict: '', result: 'failed' } });
  });
});

describe('names', () => {
  it('are unique, and valid OpenTelemetry instrument names for metrics', () => {
    const names = [...Object.values(TELEMETRY_EVENTS).map((e) => e.name), ...Object.values(TELEMETRY_METRICS).map((m) => m.name)];
    expect(new Set(names).size).toBe(names.length);
    for (const metric of Object.values(TELEMETRY_METRICS)) expect(metric.name).toMatch(/^[A-Za-z][\w./-]{0,254}$/);
  });
});

describe('telemetry settings', () => {
  const connectionString = 'InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/';

  it('off without a connection string', () => {
    expect(readTelemetrySettings({})).toBeNull();
    expect(readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' })).toBeNull();
  });

  it('Entra ID with the identity the authentication string names', () => {
    expect(readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=abc;Authorization=AAD' })).toEqual({ connectionString, entraId: { clientId: 'abc' } });
    expect(readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD' })).toEqual({ connectionString, entraId: { clientId: undefined } });
    expect(readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString })).toEqual({ connectionString, entraId: null });
  });

  it('refuses a connection string without a key, or another kind of authorization, naming the setting', () => {
    expect(() => readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'IngestionEndpoint=https://x/' })).toThrow(/APPLICATIONINSIGHTS_CONNECTION_STRING.*InstrumentationKey/);
    expect(() => readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=Basic' })).toThrow(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING.*AAD/);
  });
});
