import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DURABLE_BACKENDS } from '../../bicep/contract';
import { projectRoot } from '../util/project-root';
import { describeDispatchLatency, resolveDispatchLatency, type DispatchLatencyProfile } from './runtime/durable/dispatch-latency';
import { durableBackendOf, type DurableBackend } from './runtime/host/durable-backend';

/**
 * The Durable platform the app runs on once deployed, for the realistic profile (npm run local
 * --latency realistic, npm run bench): the backend host.json names, turned into Azure Storage by
 * the app settings main.bicep adds when its `durableBackend` parameter says so
 * (bicep/contract.ts DURABLE_BACKENDS: type, connection, maxQueuePollingInterval 00:00:01), and the
 * always-ready instances main.bicep keeps (its parameter defaults, read from the template itself so
 * the figures printed are the ones shipped).
 */
export interface DeploymentPlatform {
  backend: DurableBackend;
  /** How host.json and the Bicep app settings set the backend (for the printed assumptions). */
  source: string;
  /** storageProvider.maxQueuePollingInterval in force (Azure Storage only). */
  maxQueuePollingInterval: string;
  alwaysReady: { durable: number; http: number };
  dispatchLatency: DispatchLatencyProfile;
}

export function deploymentPlatform(options: { appRoot?: string; backend?: DurableBackend } = {}): DeploymentPlatform {
  const root = projectRoot();
  const hostJson = JSON.parse(readFileSync(join(options.appRoot ?? root, 'host.json'), 'utf8')) as {
    extensions?: { durableTask?: { storageProvider?: Record<string, unknown> } };
  };
  const storageProvider = hostJson.extensions?.durableTask?.storageProvider ?? {};
  const bicepDefault: DurableBackend = (DURABLE_BACKENDS.default as string) === 'AzureStorage' ? 'azure-storage' : 'dts';
  const wanted = options.backend ?? bicepDefault;
  const overrides = wanted === 'azure-storage' ? DURABLE_BACKENDS.AzureStorage.hostJsonOverrides : {};
  const settings = durableBackendOf(storageProvider, overrides);
  if (settings.backend !== wanted) throw new Error(`host.json and the Bicep settings give the ${settings.backend} backend, not ${wanted}`);
  const template = readFileSync(join(root, 'bicep', 'main.bicep'), 'utf8');
  const alwaysReady = { durable: bicepIntDefault(template, 'alwaysReadyDurableInstances'), http: bicepIntDefault(template, 'alwaysReadyHttpInstances') };
  const dispatchLatency = resolveDispatchLatency({
    backend: settings.backend,
    ...(settings.backend === 'azure-storage' ? { maxQueuePollingIntervalMs: settings.maxQueuePollingIntervalMs } : {}),
    coldStart: { alwaysReady: alwaysReady.durable > 0 },
  });
  const source =
    settings.backend === 'dts'
      ? `Durable Task Scheduler (host.json storageProvider.type "${String(storageProvider.type)}"; main.bicep durableBackend ${DURABLE_BACKENDS.default})`
      : 'Azure Storage (main.bicep durableBackend AzureStorage: AzureFunctionsJobHost__extensions__durableTask__storageProvider__* app settings over host.json)';
  return { backend: settings.backend, source, maxQueuePollingInterval: settings.maxQueuePollingInterval, alwaysReady, dispatchLatency };
}

/** One line per assumption: backend, polling interval, always-ready instances, dispatch figures. */
export function describeDeploymentPlatform(platform: DeploymentPlatform): string[] {
  const bicepInterval = DURABLE_BACKENDS.AzureStorage.hostJsonOverrides['AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval'];
  return [
    `Durable backend: ${platform.source}`,
    platform.backend === 'azure-storage'
      ? `maxQueuePollingInterval ${platform.maxQueuePollingInterval} (Bicep app setting; the extension's default is 00:00:30)`
      : `maxQueuePollingInterval: does not apply to the Durable Task Scheduler (push dispatch); Bicep sets ${bicepInterval} for the AzureStorage backend`,
    `always-ready instances (main.bicep defaults): durable ${platform.alwaysReady.durable}, http ${platform.alwaysReady.http}` +
      (platform.alwaysReady.durable > 0 ? ', so no cold start of the durable group' : ', so the durable group scales to zero when idle'),
    ...describeDispatchLatency(platform.dispatchLatency),
  ];
}

function bicepIntDefault(template: string, name: string): number {
  const match = new RegExp(`^param ${name} int = (\\d+)`, 'm').exec(template);
  if (!match) throw new Error(`bicep/main.bicep has no "param ${name} int = <n>"`);
  return Number(match[1]);
}
