import { createApplicationInsightsTelemetry } from '../adapters/azure/application-insights';
import { readAzureSettings } from '../adapters/azure/settings';
import { readTelemetrySettings } from './settings';
import { type Telemetry, telemetryOff } from './telemetry';

let current: Telemetry | undefined;

/** The process's telemetry, from the app settings on first use: off without a connection string. */
export function telemetry(): Telemetry {
  if (!current) {
    const settings = readTelemetrySettings();
    current = settings ? createApplicationInsightsTelemetry(settings, readAzureSettings()) : telemetryOff;
  }
  return current;
}

/** Sends what is buffered and forgets the settings (the local runtime re-reads them when reconfigured). */
export async function resetTelemetry(): Promise<void> {
  const previous = current;
  current = undefined;
  await previous?.shutdown();
}

export type { Telemetry } from './telemetry';
