import { AzureMonitorLogExporter, AzureMonitorMetricExporter, type AzureMonitorExporterOptions } from '@azure/monitor-opentelemetry-exporter';
import type { Counter, Histogram } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { TELEMETRY_EVENTS, TELEMETRY_METRICS, type TelemetryMetricKey } from '../../telemetry/names';
import type { TelemetrySettings } from '../../telemetry/settings';
import type { Telemetry } from '../../telemetry/telemetry';
import { azureCredential, azureTlsOptions } from './clients';
import type { AzureSettings } from './settings';

/** The log record attribute the exporter turns into an Application Insights custom event (customEvents). */
const CUSTOM_EVENT_NAME = 'microsoft.custom_event.name';
/**
 * Metrics are aggregated in memory and sent this often (delta: each export holds the values since
 * the last). The health check records lag every 10 s; a histogram keeps min/max/count per export.
 */
const METRIC_EXPORT_INTERVAL_MS = 15_000;

/**
 * Custom events and metrics to Application Insights with the Azure Monitor OpenTelemetry exporter
 * only — the component the Azure Monitor distro (and `applicationinsights` 3.x on top of it) uses
 * to send to the same ingestion API, without their automatic instrumentation: the distro would
 * patch `pg` and `http`, putting telemetry into every query and ARM call of a switchover's write
 * path. Here nothing is instrumented; the app emits only the records of src/telemetry/names.ts.
 *
 * Exporter 1.0.0-beta.42 is pinned: later betas poll a Microsoft configuration service from every
 * process with no setting to turn it off, which local mode and the tests must not reach.
 * Sent with Entra ID when APPLICATIONINSIGHTS_AUTHENTICATION_STRING says Authorization=AAD (the
 * deployment disables local auth). Local mode: the emulator's CA through `tlsOptions`, the same
 * supported client option the other Azure clients use, and no offline retry store (each emulator
 * is throw-away).
 */
export function createApplicationInsightsTelemetry(settings: TelemetrySettings, azure: AzureSettings): Telemetry {
  const local = azure.localCaFile !== undefined;
  const options: AzureMonitorExporterOptions = {
    connectionString: settings.connectionString,
    ...(settings.entraId ? { credential: azureCredential(azure, settings.entraId.clientId) } : {}),
    ...(local ? { tlsOptions: azureTlsOptions(azure), disableOfflineStorage: true } : {}),
  };
  const resource = resourceFromAttributes({ 'service.name': 'azure-pg-failover' });
  const logs = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor(new AzureMonitorLogExporter(options))] });
  const metrics = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: new AzureMonitorMetricExporter(options), exportIntervalMillis: METRIC_EXPORT_INTERVAL_MS })],
  });
  const logger = logs.getLogger('azure-pg-failover');
  const meter = metrics.getMeter('azure-pg-failover');
  const instruments = Object.fromEntries(
    Object.entries(TELEMETRY_METRICS).map(([key, metric]) => [
      key,
      metric.instrument === 'counter' ? meter.createCounter(metric.name, { unit: metric.unit }) : meter.createHistogram(metric.name, { unit: metric.unit }),
    ]),
  ) as Record<TelemetryMetricKey, Counter | Histogram>;

  return {
    send(records) {
      for (const record of records) {
        if ('event' in record) {
          logger.emit({ attributes: { ...record.properties, [CUSTOM_EVENT_NAME]: TELEMETRY_EVENTS[record.event].name } });
          continue;
        }
        const instrument = instruments[record.metric];
        if ('add' in instrument) instrument.add(record.value, record.dimensions);
        else instrument.record(record.value, record.dimensions);
      }
    },
    async shutdown() {
      await Promise.allSettled([logs.shutdown(), metrics.shutdown()]);
    },
  };
}
