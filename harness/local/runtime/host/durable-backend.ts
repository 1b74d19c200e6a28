import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Which Durable Functions backend the host runs on, as host.json and the app settings say:
 * `extensions.durableTask.storageProvider.type` ("azureManaged" = the Durable Task Scheduler; no
 * type or "AzureStorage" = the Azure Storage provider, the extension's default) and, for Azure
 * Storage, `storageProvider.maxQueuePollingInterval` (default 30 s: Durable Functions docs, host.json
 * reference). An app setting `AzureFunctionsJobHost__extensions__durableTask__storageProvider__<key>`
 * replaces the host.json value (the Functions host's documented override of any host.json path);
 * the Bicep turns the DTS host.json into Azure Storage that way (bicep/contract.ts DURABLE_BACKENDS).
 */
export type DurableBackend = 'dts' | 'azure-storage';

export interface DurableBackendSettings {
  backend: DurableBackend;
  /** maxQueuePollingInterval as configured (TimeSpan text), or the default; Azure Storage only. */
  maxQueuePollingInterval: string;
  maxQueuePollingIntervalMs: number;
}

export const DEFAULT_MAX_QUEUE_POLLING_INTERVAL = '00:00:30';
const OVERRIDE_PREFIX = 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__';

export function readDurableBackend(appRoot: string, env: NodeJS.ProcessEnv = process.env): DurableBackendSettings {
  const file = join(appRoot, 'host.json');
  const json = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as HostJson) : {};
  return durableBackendOf(json.extensions?.durableTask?.storageProvider ?? {}, env);
}

interface HostJson {
  extensions?: { durableTask?: { storageProvider?: Record<string, unknown> } };
}

export function durableBackendOf(storageProvider: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): DurableBackendSettings {
  const setting = (key: string): string | undefined => {
    // The host's configuration keys are case-insensitive.
    const override = Object.keys(env).find((name) => name.toLowerCase() === `${OVERRIDE_PREFIX}${key}`.toLowerCase());
    if (override !== undefined && env[override] !== undefined) return env[override];
    const value = Object.entries(storageProvider).find(([name]) => name.toLowerCase() === key.toLowerCase())?.[1];
    return value === undefined || value === null ? undefined : String(value);
  };
  const type = (setting('type') ?? 'AzureStorage').toLowerCase();
  let backend: DurableBackend;
  if (type === 'azuremanaged') backend = 'dts';
  else if (type === 'azurestorage') backend = 'azure-storage';
  else throw new Error(`Durable storage provider "${type}" is not modelled by the local runtime (only azureManaged and AzureStorage)`);
  const interval = setting('maxQueuePollingInterval') ?? DEFAULT_MAX_QUEUE_POLLING_INTERVAL;
  return { backend, maxQueuePollingInterval: interval, maxQueuePollingIntervalMs: parseTimeSpanMs(interval, 'maxQueuePollingInterval') };
}

/** A .NET TimeSpan as host.json writes it: `hh:mm:ss` or `d.hh:mm:ss`, fractions allowed. */
export function parseTimeSpanMs(text: string, what: string): number {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(text.trim());
  if (!match) throw new Error(`host.json ${what} "${text}" is not a TimeSpan like 00:00:30`);
  const [, days = '0', hours, minutes, seconds] = match;
  return Math.round(((Number(days) * 24 + Number(hours)) * 3600 + Number(minutes) * 60 + Number(seconds)) * 1000);
}
