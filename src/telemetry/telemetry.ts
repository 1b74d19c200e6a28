import type { EventProperties, MetricDimensions, TelemetryEventKey, TelemetryMetricKey } from './names';

/**
 * Where the app sends its custom events and metrics (Application Insights in Azure). Emitting
 * only buffers: the exporter sends in the background, so a caller never waits on the network
 * and a failed export never fails the caller.
 */
export interface Telemetry {
  event<K extends TelemetryEventKey>(key: K, properties: EventProperties<K>): void;
  metric<K extends TelemetryMetricKey>(key: K, value: number, dimensions: MetricDimensions<K>): void;
  /** Sends what is buffered; ends the background timers. */
  shutdown(): Promise<void>;
}

/** No connection string: telemetry is off, silently. */
export const telemetryOff: Telemetry = {
  event: () => undefined,
  metric: () => undefined,
  shutdown: async () => undefined,
};
