import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TelemetryEnvelope } from '../../../harness/local/azure-emulator/telemetry-ingestion';
import type { LocalStack } from '../../../harness/local/stack';
import { BICEP_SOURCE_DIR } from '../../../scripts/bicep/build';

/** What the emulator's Application Insights holds, read as the workbook and alerts read it. */
export function appInsights(stack: LocalStack) {
  const envelopes = (): TelemetryEnvelope[] => stack.azure.record.telemetry;
  const propertiesOf = (e: TelemetryEnvelope) => e.data.baseData.properties as Record<string, string>;
  return {
    envelopes,
    propertiesOf,
    /** customEvents of that name: their properties (customDimensions). */
    events: (name: string) => envelopes().filter((e) => e.data.baseType === 'EventData' && e.data.baseData.name === name),
    /** customMetrics of that name: one row per exported aggregate. */
    metricPoints: (name: string) =>
      envelopes()
        .filter((e) => e.data.baseType === 'MetricData')
        .flatMap((e) => (e.data.baseData.metrics as { name: string; value: number; count: number; max?: number }[]).map((m) => ({ ...m, properties: propertiesOf(e) })))
        .filter((m) => m.name === name),
  };
}

/**
 * The `<property> == '<value>'` filters of an alert query in bicep/queries (besides the record
 * name): a real event must satisfy them for the alert to fire on it.
 */
export function alertFilters(file: string): Record<string, string> {
  const kql = readFileSync(join(BICEP_SOURCE_DIR, 'queries', file), 'utf8').replace(/^\s*\/\/.*$/gm, '');
  return Object.fromEntries([...kql.matchAll(/(\w+)\)?\s*==\s*'([^']*)'/g)].map((m) => [m[1], m[2]]).filter(([property]) => property !== 'name'));
}
