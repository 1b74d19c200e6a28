import type { LocalStack } from '../../../harness/local/stack';
import { waitFor } from '../../../harness/util/wait';
import { TELEMETRY_EVENTS, TELEMETRY_METRICS } from '../../../src/telemetry/names';
import { startTestStack } from '../../support/stack';
import { automaticFailoverReport, check, checkUntil, waitUntilNotStreaming } from '../failover/support';
import { alertFilters, appInsights } from './support';

/**
 * An automatic failover as the operations team sees it in Application Insights: the health
 * check's verdicts, and the failover's steps and outcome matching what the "a failover happened"
 * alert filters on. The real exporter, the emulator's ingestion endpoint.
 */
describe('telemetry of an automatic failover', () => {
  const FAILURE_THRESHOLD = 2;
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('61.2', {
      telemetry: true,
      policy: { catchupTimeoutSeconds: 30, fenceByPowerOff: false, health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 } },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('reports the verdicts that led to it, and the failover the alert fires on', async () => {
    const insights = appInsights(stack);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');
    await stack.lab.server('pg1').kill();
    await waitUntilNotStreaming(stack, ['pg2', 'pg3']);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
    await check(stack); // reports the verdict that started the failover

    const ended = await waitFor('the failover\'s OperationEnded event', () => insights.events(TELEMETRY_EVENTS.operationEnded.name).find((e) => insights.propertiesOf(e).operationId === report.operationId), {
      timeoutMs: 60_000,
    });
    expect(insights.propertiesOf(ended)).toMatchObject({ cluster: stack.cluster.name, kind: 'failover', trigger: 'health-check', outcome: 'completed', oldPrimary: 'pg1', newPrimary: report.newPrimary });
    expect(insights.propertiesOf(ended)).toMatchObject(alertFilters('alert-failover.kql'));

    const steps = insights.events(TELEMETRY_EVENTS.operationStep.name).filter((e) => insights.propertiesOf(e).operationId === report.operationId);
    expect(steps.map((e) => insights.propertiesOf(e).step).sort()).toEqual(report.steps.map((s) => s.name).sort());

    const verdicts = await waitFor(
      'the verdicts of the outage counted',
      () => {
        const counted = new Set(insights.metricPoints(TELEMETRY_METRICS.healthVerdicts.name).map((m) => m.properties.verdict));
        return ['healthy', 'primary-failing', 'primary-dead'].every((v) => counted.has(v)) && counted;
      },
      { timeoutMs: 60_000 },
    );
    expect([...verdicts].sort()).toEqual(['healthy', 'primary-dead', 'primary-failing']);
  });
});
