import type { TelemetryRecord } from './names';

/**
 * Where the app sends its custom events and metrics (Application Insights in Azure). Sending only
 * buffers: the exporter sends in the background, so a caller never waits on the network and a
 * failed export never fails the caller.
 */
export interface Telemetry {
  send(records: readonly TelemetryRecord[]): void;
  /** Sends what is buffered; ends the background timers. */
  shutdown(): Promise<void>;
}

/** No connection string: telemetry is off, silently. */
export const telemetryOff: Telemetry = {
  send: () => undefined,
  shutdown: async () => undefined,
};
