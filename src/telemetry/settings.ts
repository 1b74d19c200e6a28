import { z } from 'zod';
import { ConfigError } from '../domain/errors';

export const TELEMETRY_SETTING_NAMES = {
  connectionString: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
  authentication: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
} as const;

/** Where to send telemetry, and whether with Entra ID (the deployment turns local auth off). */
export interface TelemetrySettings {
  connectionString: string;
  /** Authorization=AAD: send with a managed identity token; `clientId` picks a user-assigned identity. */
  entraId: { clientId: string | undefined } | null;
}

const Pairs = z
  .string()
  .transform((text) => Object.fromEntries(text.split(';').filter((part) => part.includes('=')).map((part) => [part.slice(0, part.indexOf('=')).trim().toLowerCase(), part.slice(part.indexOf('=') + 1).trim()])));

/** null when APPLICATIONINSIGHTS_CONNECTION_STRING is not set (local mode, most tests): telemetry is off. */
export function readTelemetrySettings(env: NodeJS.ProcessEnv = process.env): TelemetrySettings | null {
  const connectionString = env[TELEMETRY_SETTING_NAMES.connectionString]?.trim();
  if (!connectionString) return null;
  const connection = Pairs.parse(connectionString);
  if (!connection.instrumentationkey) {
    throw new ConfigError('the Application Insights settings', [
      { path: TELEMETRY_SETTING_NAMES.connectionString, message: 'must hold InstrumentationKey=<guid>;IngestionEndpoint=<https url>: copy the connection string of the Application Insights resource' },
    ]);
  }
  const authentication = Pairs.parse(env[TELEMETRY_SETTING_NAMES.authentication] ?? '');
  if (authentication.authorization && authentication.authorization.toUpperCase() !== 'AAD') {
    throw new ConfigError('the Application Insights settings', [
      { path: TELEMETRY_SETTING_NAMES.authentication, message: 'Authorization must be AAD (e.g. "Authorization=AAD;ClientId=<identity client id>"), or leave the setting unset' },
    ]);
  }
  return { connectionString, entraId: authentication.authorization ? { clientId: authentication.clientid || undefined } : null };
}
