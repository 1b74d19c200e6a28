/**
 * The workbook and alert rules (bicep/modules/monitoring-*.bicep, queries in bicep/queries/),
 * checked on the compiled ARM JSON evaluated as a deployment would: every event, metric and
 * property their KQL names is one the app emits (src/telemetry/names.ts, the list the code is
 * typed against), and each alert watches an emitted record.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BICEP_SOURCE_DIR } from '../../../scripts/bicep/build';
import { TELEMETRY_EVENTS, TELEMETRY_METRICS } from '../../../src/telemetry/names';
import { buildIntoTemp, describeWithBicep, Json, JsonObject, moduleOf, nestedTemplate, ofType, readTemplate, Template } from './arm';
import { TemplateEvaluator } from './arm-eval';

type Declared = { kind: 'event' | 'metric'; name: string; properties: readonly string[]; histogram: boolean };
const DECLARED: Declared[] = [
  ...Object.values(TELEMETRY_EVENTS).map((e) => ({ kind: 'event' as const, name: e.name, properties: e.properties, histogram: false })),
  ...Object.values(TELEMETRY_METRICS).map((m) => ({ kind: 'metric' as const, name: m.name, properties: m.dimensions, histogram: m.instrument === 'histogram' })),
];

/** What a query reads: its table, the record names it filters on, the customDimensions it uses, the aggregate columns of customMetrics. */
function referencesOf(kql: string): { table: string; names: string[]; properties: string[]; metricColumns: string[] } {
  const code = kql.replace(/^\s*\/\/.*$/gm, '');
  const tables = [...new Set([...code.matchAll(/\b(customEvents|customMetrics|traces|requests|dependencies|exceptions)\b/g)].map((m) => m[1]))];
  if (tables.length !== 1) throw new Error(`a query must read exactly one table, this one reads [${tables.join(', ')}]:\n${kql}`);
  return {
    table: tables[0],
    names: [...code.matchAll(/\bname\s*==\s*'([^']+)'/g)].map((m) => m[1]),
    properties: [...new Set([...code.matchAll(/customDimensions\.([A-Za-z_]\w*)|customDimensions\[\s*'([^']+)'\s*\]/g)].map((m) => m[1] ?? m[2]))],
    metricColumns: [...new Set([...code.matchAll(/\bvalue(Max|Min|Sum|Count)\b/g)].map((m) => `value${m[1]}`))],
  };
}

/** Fails with a readable list when a query names anything the app does not emit. */
function unknownReferences(kql: string): string[] {
  const refs = referencesOf(kql);
  const kind = refs.table === 'customEvents' ? 'event' : refs.table === 'customMetrics' ? 'metric' : null;
  if (!kind) return [`table ${refs.table}: the app sends only customEvents and customMetrics`];
  if (!refs.names.length) return ["no `name == '...'` filter: the query must say which record it reads"];
  const problems: string[] = [];
  const records = refs.names.map((name) => {
    const record = DECLARED.find((d) => d.kind === kind && d.name === name);
    if (!record) problems.push(`${kind} ${name} is not emitted`);
    return record;
  });
  const known = new Set(records.flatMap((r) => r?.properties ?? []));
  for (const property of refs.properties) if (!known.has(property)) problems.push(`customDimensions.${property} is not a property of ${refs.names.join(', ')}`);
  if (refs.metricColumns.some((c) => c !== 'valueSum' && c !== 'valueCount') && records.some((r) => r && !r.histogram)) problems.push(`${refs.metricColumns.join(', ')}: a counter has no min or max`);
  return problems;
}

const describeBicep = describeWithBicep();

describe('the query checker', () => {
  it('reads names, properties and metric columns, and finds what the app does not emit', () => {
    expect(unknownReferences("customEvents | where name == 'OperationEnded' | extend x = tostring(customDimensions.outcome)")).toEqual([]);
    expect(unknownReferences("customEvents | where name == 'OperationEnded' | extend x = tostring(customDimensions.reason)")).toEqual(['customDimensions.reason is not a property of OperationEnded']);
    expect(unknownReferences("customEvents | where name == 'Failover'")).toEqual(['event Failover is not emitted']);
    expect(unknownReferences("customMetrics | where name == 'OperationEnded'")).toEqual(['metric OperationEnded is not emitted']);
    expect(unknownReferences("customMetrics | where name == 'Operations' | summarize max(valueMax)")).toEqual(['valueMax: a counter has no min or max']);
    expect(unknownReferences("customMetrics | where name == 'ReplicationLagBytes' | where valueMax > todouble(customDimensions['failoverBoundBytes'])")).toEqual([]);
    expect(unknownReferences('customEvents | take 1')).toEqual(["no `name == '...'` filter: the query must say which record it reads"]);
    expect(unknownReferences("traces | where name == 'x'")).toEqual(['table traces: the app sends only customEvents and customMetrics']);
  });
});

describeBicep('monitoring: the workbook and alert rules (compiled ARM JSON)', () => {
  let build: ReturnType<typeof buildIntoTemp>;
  let main: Template;
  beforeAll(() => {
    build = buildIntoTemp();
    if (build.result.ok) main = readTemplate(build.result.outputs['main.bicep']);
  });
  afterAll(() => build?.cleanup());

  const ACTION_GROUP = '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-ops/providers/Microsoft.Insights/actionGroups/oncall';
  const alertRules = (parameters: Record<string, Json>) => {
    const template = nestedTemplate(moduleOf(main, 'monitoringAlerts'));
    const evaluator = new TemplateEvaluator(template, { location: 'westeurope', namePrefix: 'pgfo', appInsightsId: '<appInsightsId>', clusterNames: ['orders'], ...parameters });
    const rule = ofType(template, 'Microsoft.Insights/scheduledQueryRules')[0].resource;
    const alerts = evaluator.evaluate("[variables('alerts')]") as Array<{ key: string; query: string; windowSize: string; dimensions: string[] }>;
    const criteria = (rule.properties as JsonObject).criteria as { allOf: JsonObject[] };
    return { alerts, actionGroups: evaluator.evaluate(((rule.properties as JsonObject).actions as JsonObject).actionGroups), query: criteria.allOf[0].query };
  };
  const workbookQueries = (): string[] => {
    const template = nestedTemplate(moduleOf(main, 'monitoringWorkbook'));
    const workbook = ofType(template, 'Microsoft.Insights/workbooks')[0].resource;
    const serialized = new TemplateEvaluator(template, { location: 'westeurope', namePrefix: 'pgfo', appInsightsId: '<appInsightsId>' }).evaluate((workbook.properties as JsonObject).serializedData);
    const content = JSON.parse(String(serialized)) as { items: Array<{ type: number; content: { query?: string } }> };
    return content.items.filter((item) => item.type === 3).map((item) => String(item.content.query));
  };

  it('builds', () => {
    expect(build.result.failures).toEqual([]);
    expect(build.result.ok).toBe(true);
  });

  it('has the six alert rules the operations team is paged by, each on one query of its alert', () => {
    const { alerts, query } = alertRules({});
    expect(alerts.map((a) => a.key)).toEqual(['failover', 'operation-failed', 'health-check-silent', 'cluster-not-healthy', 'lag-above-failover-bound', 'scheduled-events-failing']);
    expect(query).toBe("[variables('alerts')[copyIndex()].query]");
  });

  it('alerts only on events and metrics the app emits, with their own properties, and each alert on a record that exists', () => {
    const { alerts } = alertRules({});
    for (const alert of alerts) {
      expect({ alert: alert.key, problems: unknownReferences(alert.query) }).toEqual({ alert: alert.key, problems: [] });
      // Every dimension the rule splits on is a column the query returns: an emitted property.
      const { properties } = referencesOf(alert.query);
      for (const dimension of alert.dimensions) expect({ alert: alert.key, dimension, known: properties.includes(dimension) }).toEqual({ alert: alert.key, dimension, known: true });
    }
    const watched = new Set(alerts.flatMap((a) => referencesOf(a.query).names));
    expect([...watched].sort()).toEqual([TELEMETRY_EVENTS.operationEnded.name, TELEMETRY_EVENTS.healthCheck.name, TELEMETRY_EVENTS.scheduledEvent.name, TELEMETRY_METRICS.replicationLagBytes.name].sort());
  });

  it('the workbook queries only what the app emits: operations and their steps, lag per node, health verdicts', () => {
    const queries = workbookQueries();
    for (const query of queries) expect({ query, problems: unknownReferences(query) }).toEqual({ query, problems: [] });
    const shown = new Set(queries.flatMap((q) => referencesOf(q).names));
    expect([...shown].sort()).toEqual(
      [TELEMETRY_EVENTS.operationEnded.name, TELEMETRY_EVENTS.operationStep.name, TELEMETRY_EVENTS.healthCheck.name, TELEMETRY_METRICS.replicationLagBytes.name, TELEMETRY_METRICS.healthVerdicts.name].sort(),
    );
  });

  it('the queries deployed are the files in bicep/queries, unchanged', () => {
    const file = (name: string) => readFileSync(join(BICEP_SOURCE_DIR, 'queries', name), 'utf8');
    const { alerts } = alertRules({});
    expect(alerts.find((a) => a.key === 'lag-above-failover-bound')?.query).toBe(file('alert-lag.kql'));
    expect(workbookQueries()).toContain(file('workbook-steps.kql'));
  });

  it('"health check has not run": every configured cluster, over the window the parameter sets', () => {
    const { alerts } = alertRules({ clusterNames: ['orders', 'billing'], healthCheckSilenceMinutes: 15 });
    const silent = alerts.find((a) => a.key === 'health-check-silent')!;
    expect(silent.windowSize).toBe('PT15M');
    expect(silent.query.startsWith('let expectedClusters = dynamic(["orders","billing"]);\nlet silence = 15m;\n')).toBe(true);
    // main.bicep hands the module the names of the clusters it configures the app with.
    const parameters = (moduleOf(main, 'monitoringAlerts').properties as JsonObject).parameters as Record<string, JsonObject>;
    const config = { clusters: [{ name: 'orders' }, { name: 'billing' }] };
    expect(new TemplateEvaluator(main, { clusterConfig: config } as Record<string, Json>).evaluate(parameters.clusterNames.value)).toEqual(['orders', 'billing']);
  });

  it('"cluster not healthy": over the window the parameter sets, from the health checks\' verdicts', () => {
    const { alerts } = alertRules({ unhealthyMinutes: 60 });
    const unhealthy = alerts.find((a) => a.key === 'cluster-not-healthy')!;
    expect(unhealthy.windowSize).toBe('PT60M');
    expect(unhealthy.query).toBe(`let unhealthyFor = 60m;\n${readFileSync(join(BICEP_SOURCE_DIR, 'queries', 'alert-cluster-not-healthy.kql'), 'utf8')}`);
    expect(alertRules({}).alerts.find((a) => a.key === 'cluster-not-healthy')!.windowSize).toBe('PT30M');
    const parameters = (moduleOf(main, 'monitoringAlerts').properties as JsonObject).parameters as Record<string, JsonObject>;
    expect(parameters.unhealthyMinutes.value).toBe("[parameters('unhealthyMinutes')]");
  });

  it('notifies the action group given, and nobody without one', () => {
    expect(alertRules({ actionGroupId: ACTION_GROUP }).actionGroups).toEqual([ACTION_GROUP]);
    expect(alertRules({}).actionGroups).toEqual([]);
  });
});
