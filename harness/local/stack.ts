import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lab/lab';
import { LabOptions } from '../lab/layout';
import { ClusterConfig } from '../../src/config/schema';
import { CONFIG_FILE_SETTING } from '../../src/config/load';
import { AZURE_SETTING_NAMES } from '../../src/adapters/azure';
import { AzureEmulator, GuestExecutor, LatencyOption } from './azure-emulator';
import { applyLocalSettings, LocalRuntime, readHostJson } from './runtime';
import { projectRoot } from '../util/project-root';
import { labClusterConfig, type LabAgentTrust, type LabLoadBalancing } from './lab-cluster';
import { poweredOffVms, startLabAzure } from './lab-azure';
import { NodeAgents } from '../lab/node-agents';
import { resetServices } from '../../src/app/services';
import { resetTelemetry } from '../../src/telemetry';
import { TELEMETRY_SETTING_NAMES } from '../../src/telemetry/settings';
import { deploymentPlatform, describeDeploymentPlatform } from './deployment-platform';
import type { DispatchLatencyOption } from './runtime/durable/dispatch-latency';
import type { DurableBackend } from './runtime/host/durable-backend';

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
  /** host.json's functionTimeout replaced (e.g. '00:00:05' to test what outlives it); default: the app's host.json. */
  functionTimeout?: string;
  /**
   * The Durable backend's dispatch latency and cold starts in the runtime: 'deployment' (host.json
   * and main.bicep as deployed: deployment-platform.ts), 'none', or a runtime profile. Default:
   * 'deployment' with the realistic Azure latency, 'none' otherwise (tests).
   */
  dispatchLatency?: 'deployment' | DispatchLatencyOption;
  /** Which backend main.bicep deploys (its durableBackend parameter); default: the Bicep default, the Durable Task Scheduler. */
  durableBackend?: DurableBackend;
  /**
   * Give the app the emulator's Application Insights connection string (sent with Entra ID, as
   * deployed), so its telemetry lands in `azure.record.telemetry`. Default off: no connection
   * string, no telemetry, as in Azure without one.
   */
  telemetry?: boolean;
  /**
   * How the load balancer picks the writer: 'pools' (the app moves NICs between pools through the
   * emulator; default) or 'probe' (every node in both pools, each node's agent answers the
   * load balancer's probes by the write lease: docs/design.md §9).
   */
  loadBalancing?: LabLoadBalancing;
  /**
   * Probe mode: whether the app's node steps go to the agents first (`nodeAgent` in the
   * configuration; default true). False: the agents answer the probes and keep the lease, every
   * node step runs through Run Command (the Bicep sample enrolls its agents: agentTrust 'enrolled').
   */
  agentSteps?: boolean;
  /**
   * Probe mode with agent steps: how the app trusts the agents (default 'ca'; 'pinned': each agent
   * serves its node's self-signed certificate, pinned in Key Vault; 'enrolled': the same, once
   * each agent has enrolled through the app, which it has not at the start).
   */
  agentTrust?: LabAgentTrust;
}

export interface LocalStack {
  lab: Lab;
  azure: AzureEmulator;
  runtime: LocalRuntime;
  cluster: ClusterConfig;
  /** The app's base URL when listening. */
  origin: string | undefined;
  /**
   * The Functions host dies and comes back on the same state, as after a crash or a deployment:
   * work in flight is abandoned (its effects stay, its results are lost) and every unfinished
   * instance resumes from its history. Azure, the lab and the app's settings stay as they are.
   */
  restartRuntime(): Promise<void>;
  stop(options?: { keepLab?: boolean }): Promise<void>;
}

/**
 * The runtime's instances are operations on one lab. A lab built anew in the same place (another
 * cluster, another system identifier) must not inherit them: its state starts empty.
 */
function claimRuntimeState(runtimeDir: string, lab: Lab, log: ((line: string) => void) | undefined): string {
  const labId = lab.manifest.id ?? 'unknown';
  const marker = join(runtimeDir, 'lab-id');
  const owner = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;
  if (owner !== labId) {
    if (existsSync(runtimeDir)) (log ?? ((line: string) => process.stderr.write(`${line}\n`)))(JSON.stringify({ component: 'local-stack', event: 'runtime-state-cleared', reason: `made for lab ${owner ?? '(unknown)'}, this lab is ${labId}` }));
    rmSync(runtimeDir, { recursive: true, force: true });
    mkdirSync(runtimeDir, { recursive: true });
    writeFileSync(marker, `${labId}\n`);
  }
  return runtimeDir;
}

function appModule(appRoot: string | undefined): string {
  if (!appRoot) return join(projectRoot(), 'src', 'index.ts');
  const { main } = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { main?: string };
  if (!main) throw new Error(`${join(appRoot, 'package.json')} names no "main" module`);
  return join(appRoot, main);
}

/**
 * The Application Insights settings as deployed (Entra ID auth; the emulator accepts any token),
 * or none. Statsbeat, the SDK's own usage report to Microsoft's endpoints, is off: local mode
 * talks to nothing but the emulator.
 */
function setTelemetrySettings(connectionString: string | undefined): void {
  const settings = {
    [TELEMETRY_SETTING_NAMES.connectionString]: connectionString,
    [TELEMETRY_SETTING_NAMES.authentication]: connectionString && 'Authorization=AAD',
    APPLICATION_INSIGHTS_NO_STATSBEAT: connectionString && 'true',
  };
  for (const [name, value] of Object.entries(settings)) {
    if (value) process.env[name] = value;
    else delete process.env[name];
  }
}

/** The audience the lab's node agents request their VM identity tokens for (NODE_AUTH_AUDIENCE; an app registration's URI on Azure). */
export const LOCAL_NODE_AUTH_AUDIENCE = 'api://pg-failover-nodes-local';

/**
 * Local mode (docs/design.md §6): the lab, the local Azure emulator playing its Azure, and the
 * local Functions runtime running the app's real registrations against both. The app is configured
 * exactly as in Azure, through app settings; only their values point here.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(options.stateDir, { recursive: true });
  const powerFile = join(options.stateDir, 'vm-power.json');
  const balancing = options.loadBalancing ?? 'pools';
  const realistic = options.latency === 'realistic';
  // Probe mode: Azure's minimum probe interval in the realistic profile, a lab's pace in tests.
  const probes = balancing === 'probe' ? { ilbProbes: { intervalMs: realistic ? 5000 : 300, probeThreshold: 1 } } : {};
  const poweredOff = Object.keys(poweredOffVms(powerFile));
  const lab = await Lab.up({ ...probes, ...options.lab }, { leaveStopped: poweredOff });
  // The agents run on the VMs: none on a VM that is off.
  const running = lab.layout.nodes.map((n) => n.name).filter((name) => !poweredOff.includes(name));
  const agentTrust = options.agentTrust ?? 'ca';
  const agents = balancing === 'probe' ? await NodeAgents.start(lab, { checkSeconds: realistic ? 1 : 0.2, stepsTls: agentTrust === 'ca' ? 'ca' : 'self-signed' }, running) : undefined;
  const config = labClusterConfig(lab, options.policy, balancing, options.agentSteps ?? true, agentTrust);
  const [cluster] = config.clusters;
  const configFile = join(options.stateDir, 'clusters.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  const azure = await startLabAzure(lab, cluster, { latency: options.latency, announce: options.announce, executor: options.executor, powerFile, agents, agentTrust });
  const runtimeDir = claimRuntimeState(join(options.stateDir, 'runtime'), lab, options.log);
  Object.assign(process.env, {
    [CONFIG_FILE_SETTING]: configFile,
    [AZURE_SETTING_NAMES.armEndpoint]: azure.endpoint,
    [AZURE_SETTING_NAMES.keyVaultUrl]: azure.keyVaultUrl,
    [AZURE_SETTING_NAMES.localCaFile]: azure.caFile,
    [AZURE_SETTING_NAMES.pollIntervalMs]: '100',
    [AZURE_SETTING_NAMES.authorityHost]: azure.authorityHost,
    [AZURE_SETTING_NAMES.nodeAuthAudience]: LOCAL_NODE_AUTH_AUDIENCE,
    [AZURE_SETTING_NAMES.nodeAuthTenantId]: azure.entra.tenantId,
  });
  setTelemetrySettings(options.telemetry ? azure.appInsightsConnectionString : undefined);
  // The app reads its settings once per process; a new stack brings new values.
  resetServices();
  await resetTelemetry();

  // As `func start` does: local.settings.json fills in the settings not set above, host.json names the hub and route prefix.
  applyLocalSettings(projectRoot());
  const host = readHostJson(options.appRoot ?? projectRoot());
  const platform = deploymentPlatform({ appRoot: options.appRoot, backend: options.durableBackend });
  const dispatch = options.dispatchLatency ?? (options.latency === 'realistic' ? 'deployment' : 'none');
  if (dispatch === 'deployment') for (const line of describeDeploymentPlatform(platform)) options.announce?.(`  platform assumption: ${line}`);
  const startRuntime = () =>
    LocalRuntime.start({
      routePrefix: host.routePrefix,
      ...(host.hubName ? { taskHubName: host.hubName } : {}),
      ...((options.functionTimeout ?? host.functionTimeout) ? { functionTimeout: options.functionTimeout ?? host.functionTimeout } : {}),
      stateDir: runtimeDir,
      appModule: appModule(options.appRoot),
      scheduleTimers: options.scheduleTimers ?? false,
      ...(options.functionKey ? { functionKey: options.functionKey } : {}),
      ...(options.log ? { log: options.log } : {}),
      durableBackend: platform.backend,
      dispatchLatency: dispatch === 'deployment' ? platform.dispatchLatency : dispatch,
    });
  let runtime: LocalRuntime;
  try {
    runtime = await startRuntime();
  } catch (error) {
    await azure.stop();
    throw error;
  }
  const origin = options.listen ? await runtime.http.listen(options.listen.port, options.listen.host) : undefined;
  const stack: LocalStack = {
    lab,
    azure,
    runtime,
    cluster,
    origin,
    async restartRuntime() {
      await stack.runtime.stop();
      stack.runtime = await startRuntime();
      if (options.listen) await stack.runtime.http.listen(options.listen.port, options.listen.host);
    },
    async stop({ keepLab = false } = {}) {
      await stack.runtime.stop();
      await resetTelemetry();
      await azure.stop();
      if (!keepLab) await Lab.down(lab.manifest.options);
    },
  };
  return stack;
}
