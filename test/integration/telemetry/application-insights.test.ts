import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { LocalStack } from '../../../harness/local/stack';
import { labSecrets } from '../../../harness/local/lab-cluster';
import type { TelemetryEnvelope } from '../../../harness/local/azure-emulator/telemetry-ingestion';
import { waitFor } from '../../../harness/util/wait';
import { TELEMETRY_EVENTS, TELEMETRY_METRICS } from '../../../src/telemetry/names';
import { api, startTestStack, vmIdentity } from '../../support/stack';
import { switchoverAndWait } from '../../support/operations';
import { check } from '../failover/support';
import { alertFilters, appInsights } from './support';

/**
 * The app's telemetry through the real Azure Monitor exporter (Entra ID token, the emulator's CA)
 * to the local emulator's Application Insights ingestion endpoint: what an operations team would
 * find in customEvents and customMetrics after a switchover and a few health checks.
 */
describe('telemetry to Application Insights', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('61.1', { telemetry: true });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const insights = () => appInsights(stack);
  const envelopes = () => insights().envelopes();
  const events = (name: string) => insights().events(name);
  const propertiesOf = (e: TelemetryEnvelope) => insights().propertiesOf(e);
  const metricPoints = (name: string) => insights().metricPoints(name);

  it('refuses telemetry without an Entra ID token, as a component with local auth disabled does', async () => {
    const before = envelopes().length;
    const { instrumentationKey, ingestion } = parseConnectionString(stack.azure.appInsightsConnectionString);
    const status = await post(new URL('v2.1/track', ingestion), [{ name: 'x', time: new Date().toISOString(), iKey: instrumentationKey, data: { baseType: 'EventData', baseData: { name: 'x' } } }]);
    expect(status).toBe(401);
    expect(envelopes().length).toBe(before);
  });

  it("sends each step of a switchover as a custom event once it has ended, and the operation's outcome", async () => {
    const report = await switchoverAndWait(stack, { target: 'pg2' });
    expect(report.outcome).toBe('completed');

    const steps = await waitFor(
      'a custom event for every step of the switchover',
      () => {
        const seen = events(TELEMETRY_EVENTS.operationStep.name).filter((e) => propertiesOf(e).operationId === report.operationId);
        return seen.length >= report.steps.length && seen;
      },
      { timeoutMs: 60_000 },
    );
    const received = steps.map(propertiesOf).sort((a, b) => Number(a.stepIndex) - Number(b.stepIndex));
    expect(received).toEqual(
      report.steps.map((step, index) => ({
        operationId: report.operationId,
        cluster: stack.cluster.name,
        kind: 'switchover',
        trigger: 'http',
        outcome: 'completed',
        step: step.name,
        stepIndex: String(index),
        result: 'ok',
        startedAt: step.startedAt,
        durationMs: String(step.durationMs),
      })),
    );
    expect(received.map((p) => p.step)).toEqual(expect.arrayContaining(['drain primary', 'promote candidate', 'repoint load balancer']));

    const ended = await waitFor('the OperationEnded event', () => events(TELEMETRY_EVENTS.operationEnded.name).find((e) => propertiesOf(e).operationId === report.operationId), { timeoutMs: 60_000 });
    expect(propertiesOf(ended)).toMatchObject({ kind: 'switchover', outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2', rejoinMethod: 'follow', problems: '0', startedAt: report.steps[0].startedAt });
    expect(Number(propertiesOf(ended).durationMs)).toBeGreaterThan(0);

    const outcomes = await waitFor('the Operations metric', () => metricPoints(TELEMETRY_METRICS.operations.name).find((m) => m.properties.kind === 'switchover'), { timeoutMs: 60_000 });
    expect(outcomes).toMatchObject({ value: 1, properties: { cluster: stack.cluster.name, kind: 'switchover', outcome: 'completed' } });
    const duration = await waitFor('the OperationDurationMs metric', () => metricPoints(TELEMETRY_METRICS.operationDurationMs.name)[0], { timeoutMs: 60_000 });
    expect(duration.value).toBe(Number(propertiesOf(ended).durationMs));
  });

  it("sends each standby's replication lag against the failover bound, and the monitor's verdicts", async () => {
    await check(stack);
    const second = await check(stack);
    expect(second.lastCheck?.verdict).toBe('healthy');
    await check(stack); // reports the second check's verdict

    const bound = String(stack.cluster.policy.maxLagBytesForFailover);
    const lag = await waitFor(
      'lag of both standbys',
      () => {
        const points = metricPoints(TELEMETRY_METRICS.replicationLagBytes.name);
        const nodes = new Set(points.map((p) => p.properties.node));
        return nodes.has('pg1') && nodes.has('pg3') && points;
      },
      { timeoutMs: 60_000 },
    );
    for (const point of lag) {
      expect(point.properties).toEqual({ cluster: stack.cluster.name, node: expect.stringMatching(/^pg[13]$/), failoverBoundBytes: bound });
      expect(point.max).toBeGreaterThanOrEqual(0);
    }
    expect(lag.some((p) => p.properties.node === 'pg2')).toBe(false); // the primary has no lag

    // Each of the three runs, as the "health check has not run" alert counts a run.
    const run = alertFilters('alert-health-check-silent.kql').result;
    const observed = await waitFor(
      'a HealthCheck event for each run',
      () => {
        const seen = events(TELEMETRY_EVENTS.healthCheck.name).map(propertiesOf);
        return seen.filter((p) => p.cluster === stack.cluster.name && p.result === run).length === 3 && seen;
      },
      { timeoutMs: 60_000 },
    );
    const healthy = observed.filter((p) => p.verdict === 'healthy');
    expect(healthy).toContainEqual({ cluster: stack.cluster.name, result: 'observed', verdict: 'healthy', checkAt: second.lastCheck!.at });
    await waitFor('a healthy verdict counted', () => metricPoints(TELEMETRY_METRICS.healthVerdicts.name).find((m) => m.properties.verdict === 'healthy'), { timeoutMs: 60_000 });
  });

  it('reports a scheduled event the app could not take as a failed forwarding', async () => {
    const answer = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg3/scheduled-events`, { EventId: 'E-1', EventType: 'Reboot' }, vmIdentity(stack, 'pg3'));
    expect(answer.status).toBe(400);
    const failed = await waitFor('the ScheduledEventAnswered event', () => events(TELEMETRY_EVENTS.scheduledEvent.name)[0], { timeoutMs: 60_000 });
    expect(propertiesOf(failed)).toEqual({ cluster: stack.cluster.name, node: 'pg3', eventType: '', status: '400', verdict: '', result: 'failed' });
    // What the "scheduled-event forwarding is failing" alert filters on.
    expect(propertiesOf(failed)).toMatchObject(alertFilters('alert-scheduled-events.kql'));
  });

  it('sends only the events and properties the names module declares, and never a secret', () => {
    const declared = new Map<string, readonly string[]>(Object.values(TELEMETRY_EVENTS).map((e) => [e.name, e.properties]));
    const customEvents = envelopes().filter((e) => e.data.baseType === 'EventData');
    expect(customEvents.length).toBeGreaterThan(10);
    for (const event of customEvents) {
      const name = String(event.data.baseData.name);
      expect(declared.has(name)).toBe(true);
      expect(Object.keys(propertiesOf(event)).sort()).toEqual([...declared.get(name)!].sort());
    }
    const metricNames = new Set<string>(Object.values(TELEMETRY_METRICS).map((m) => m.name));
    const sentMetrics = envelopes().filter((e) => e.data.baseType === 'MetricData').flatMap((e) => (e.data.baseData.metrics as { name: string }[]).map((m) => m.name));
    expect(sentMetrics.filter((name) => !metricNames.has(name))).toEqual([]);

    const everything = JSON.stringify(envelopes());
    for (const secret of Object.values(labSecrets(stack.lab))) {
      expect(secret.length).toBeGreaterThan(8);
      expect(everything).not.toContain(secret);
    }
  });

  function parseConnectionString(text: string): { instrumentationKey: string; ingestion: string } {
    const pairs = Object.fromEntries(text.split(';').map((p) => p.split('=', 2) as [string, string]));
    return { instrumentationKey: pairs.InstrumentationKey, ingestion: pairs.IngestionEndpoint };
  }

  function post(url: URL, body: unknown): Promise<number> {
    const ca = readFileSync(stack.azure.caFile, 'utf8');
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }
});
