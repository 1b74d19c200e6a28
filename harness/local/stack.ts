import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lab/lab';
import { LabOptions } from '../lab/layout';
import { ClusterConfig } from '../../src/config/schema';
import { CONFIG_FILE_SETTING } from '../../src/config/load';
import { AZURE_SETTING_NAMES } from '../../src/adapters/azure';
import { AzureEmulator, GuestExecutor, LatencyOption } from './azure-emulator';
import { applyLocalSettings, LocalRuntime, readHostJson } from './runtime';
import { projectRoot } from '../util/project-root';
import { labClusterConfig } from './lab-cluster';
import { startLabAzure } from './lab-azure';
import { resetServices } from '../../src/app/services';

export interface LocalStackOptions {
  /** Where the runtime keeps instances and the generated configuration. */
  stateDir: string;
  lab?: Partial<LabOptions>;
  latency?: LatencyOption;
  /** Listen for the app's HTTP routes here (default: do not listen; use runtime.invokeHttp or the client). */
  listen?: { host: string; port: number };
  functionKey?: string;
  /** Overrides of the lab cluster's policy (e.g. shorter timeouts in tests). */
  policy?: Record<string, unknown>;
  scheduleTimers?: boolean;
  announce?: (line: string) => void;
  log?: (line: string) => void;
  /** Runs the VMs' Run Command scripts (default: bash on this machine, as root like Azure's agent). */
  executor?: GuestExecutor;
  /** The app to run: an unpacked deployment package (its package.json "main" and host.json). Default: this checkout's sources. */
  appRoot?: string;
}

export interface LocalStack {
  lab: Lab;
  azure: AzureEmulator;
  runtime: LocalRuntime;
  cluster: ClusterConfig;
  /** The app's base URL when listening. */
  origin: string | undefined;
  stop(options?: { keepLab?: boolean }): Promise<void>;
}

function appModule(appRoot: string | undefined): string {
  if (!appRoot) return join(projectRoot(), 'src', 'index.ts');
  const { main } = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { main?: string };
  if (!main) throw new Error(`${join(appRoot, 'package.json')} names no "main" module`);
  return join(appRoot, main);
}

/**
 * Local mode (docs/design.md §6): the lab, the local Azure emulator playing its Azure, and the
 * local Functions runtime running the app's real registrations against both. The app is configured
 * exactly as in Azure, through app settings; only their values point here.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const lab = await Lab.up(options.lab ?? {});
  const config = labClusterConfig(lab, options.policy);
  const [cluster] = config.clusters;
  mkdirSync(options.stateDir, { recursive: true });
  const configFile = join(options.stateDir, 'clusters.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  const azure = await startLabAzure(lab, cluster, { latency: options.latency, announce: options.announce, executor: options.executor });
  Object.assign(process.env, {
    [CONFIG_FILE_SETTING]: configFile,
    [AZURE_SETTING_NAMES.armEndpoint]: azure.endpoint,
    [AZURE_SETTING_NAMES.keyVaultUrl]: azure.keyVaultUrl,
    [AZURE_SETTING_NAMES.localCaFile]: azure.caFile,
    [AZURE_SETTING_NAMES.pollIntervalMs]: '100',
  });
  // The app reads its settings once per process; a new stack brings new values.
  resetServices();

  // As `func start` does: local.settings.json fills in the settings not set above, host.json names the hub and route prefix.
  applyLocalSettings(projectRoot());
  const host = readHostJson(options.appRoot ?? projectRoot());
  let runtime: LocalRuntime;
  try {
    runtime = await LocalRuntime.start({
      routePrefix: host.routePrefix,
      ...(host.hubName ? { taskHubName: host.hubName } : {}),
      ...(host.functionTimeout ? { functionTimeout: host.functionTimeout } : {}),
      stateDir: join(options.stateDir, 'runtime'),
      appModule: appModule(options.appRoot),
      scheduleTimers: options.scheduleTimers ?? false,
      ...(options.functionKey ? { functionKey: options.functionKey } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  } catch (error) {
    await azure.stop();
    throw error;
  }
  const origin = options.listen ? await runtime.http.listen(options.listen.port, options.listen.host) : undefined;
  return {
    lab,
    azure,
    runtime,
    cluster,
    origin,
    async stop({ keepLab = false } = {}) {
      await runtime.stop();
      await azure.stop();
      if (!keepLab) await Lab.down(lab.manifest.options);
    },
  };
}
