import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ArmAvailability, type ArmUnavailableMode, type ArmUnavailableOptions } from './arm-availability';
import { createEmulatorCertificate } from './certificate';
import { createEntraIssuer, type EntraIssuer } from './entra';
import { computeRoutes } from './compute-routes';
import type { EmulatorCore } from './core';
import { PoolChangeNotifier, poolsSnapshot } from './data-plane';
import { createBashExecutor, type GuestExecutor } from './guest-executor';
import { keyVaultRoutes } from './key-vault-routes';
import { describeLatency, type LatencyOption, type LatencyProfile, resolveLatency } from './latency';
import { networkRoutes } from './network-routes';
import { operationRoutes } from './operation-routes';
import { AsyncOperations } from './operations';
import { emptyRecord, type EmulatorRecord, type PoolsSnapshot } from './record';
import { createRequestHandler } from './router';
import { EmulatorState, isOff, key, type VmPowerState } from './state';
import { Timers } from './timers';
import { type EmulatorWorld, type KeyVaultRole, validateWorld } from './world';

export interface AzureEmulatorOptions {
  world: EmulatorWorld;
  /** Default 'zero'. */
  latency?: LatencyOption;
  /** Loopback address to listen on; default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Runs Run Command scripts; default: bash on this machine. */
  executor?: GuestExecutor;
  /** Called when a load balancer's routed membership changes (once at start, then after each completed pool/NIC update). */
  onPoolsChanged?: (snapshot: PoolsSnapshot) => void;
  /** Called on every VM power state change (e.g. to stop the lab node of a VM that was powered off). */
  onPowerStateChanged?: (vm: string, state: VmPowerState) => void;
  /** Receives a few lines at start: where the emulator listens and its latency assumptions (for the demo to print). */
  announce?: (line: string) => void;
  /** Entra ID's signing keys; default: a new key (a key rollover) at each start. */
  entra?: EntraIssuer;
}

/** Test and lab controls that real Azure does not have. */
export interface EmulatorControl {
  /** The next write (PUT) to this NIC or backend pool first sees its etag change, as if another client wrote in between: a stale If-Match gets 412. */
  bumpEtagBeforeNextWrite(resourceId: string): void;
  setPowerState(vmName: string, state: 'running' | 'stopped' | 'deallocated'): void;
  setSecret(name: string, value: string): void;
  /** The app identity's data role on the vault from now on (an operator's grant or removal; Azure applies it after minutes). */
  setKeyVaultRole(role: KeyVaultRole): void;
  /** The latest value of a secret, undefined when there is none. */
  secret(name: string): string | undefined;
  /** Routed membership of every load balancer now. */
  pools(): PoolsSnapshot[];
  /** VM power state now. */
  powerState(vmName: string): VmPowerState;
  /** Keeps every operation in progress (each emulated delay waits) until release() is called. */
  holdOperations(): () => void;
  /**
   * ARM's front door goes down until makeArmAvailable(): every ARM request (reads, writes, Run
   * Command, operation polls) answers 503 ServiceUnavailable with Retry-After ('503'), or is
   * accepted and never answered ('timeout'; answered 503 once ARM is back, never carried out).
   * Key Vault, Entra's keys and Application Insights ingestion stay up; operations ARM accepted
   * before keep running. Refused requests are in record.requests (status 0: the client gave up).
   */
  makeArmUnavailable(mode: ArmUnavailableMode, options?: ArmUnavailableOptions): void;
  makeArmAvailable(): void;
  /** How many ARM requests hang unanswered now ('timeout' mode). */
  hangingArmRequests(): number;
}

export interface AzureEmulator {
  /** ARM endpoint for ARM_ENDPOINT, e.g. https://127.0.0.1:40123 */
  endpoint: string;
  /** Key Vault URL for KEY_VAULT_URL (same listener, /secrets paths). */
  keyVaultUrl: string;
  /** PEM of the CA that signed the emulator's certificate, for PG_FAILOVER_LOCAL_CA_FILE. */
  caFile: string;
  /** For APPLICATIONINSIGHTS_CONNECTION_STRING: this emulator's component key and ingestion endpoint. */
  appInsightsConnectionString: string;
  /** For AZURE_AUTHORITY_HOST: Entra ID's signing keys are served on the same listener. */
  authorityHost: string;
  /** Entra ID: the issuer of the VMs' managed identity tokens (give it to the metadata service emulator). */
  entra: EntraIssuer;
  latency: LatencyProfile;
  record: EmulatorRecord;
  control: EmulatorControl;
  stop(): Promise<void>;
}

/**
 * A local stand-in for the slice of Azure the app uses, spoken to by the real SDK clients over
 * HTTPS. See README.md beside this file for what it models and what it assumes.
 */
export async function startAzureEmulator(options: AzureEmulatorOptions): Promise<AzureEmulator> {
  validateWorld(options.world);
  const host = options.host ?? '127.0.0.1';
  const certificate = await createEmulatorCertificate(host);
  const state = new EmulatorState(options.world);
  const record = emptyRecord();
  let endpoint = '';
  const timers = new Timers();
  const notify = options.onPoolsChanged ?? (() => undefined);
  const core: EmulatorCore = {
    state,
    operations: new AsyncOperations(() => endpoint),
    timers,
    latency: resolveLatency(options.latency),
    record,
    executor: options.executor ?? createBashExecutor(),
    pools: new PoolChangeNotifier(state, (snapshot) => {
      record.poolChanges.push(snapshot);
      notify(snapshot);
    }),
    fingerprintKey: randomBytes(32),
    instrumentationKey: randomUUID(),
    entra: options.entra ?? createEntraIssuer(state.tenantId),
    endpoint: () => endpoint,
    powerChanged: (vm, powerState) => {
      // The lab silences the node first (docs/azure-platform.md §20); then the script Run Command
      // ran there dies with the VM: a VM that went off runs nothing more.
      options.onPowerStateChanged?.(vm, powerState);
      if (isOff(powerState)) state.findVmByName(vm)?.runningScript?.abort();
    },
    authorization: options.world.authorization,
    keyVaultRole: options.world.keyVaultRole ?? 'Key Vault Secrets User',
    arm: new ArmAvailability(),
  };
  const arm = [...operationRoutes(core), ...computeRoutes(core), ...networkRoutes(core)];
  const server = createServer({ cert: certificate.certPem, key: certificate.keyPem }, createRequestHandler(core, arm, keyVaultRoutes(core)));
  await listen(server, host, options.port ?? 0);
  const address = server.address() as AddressInfo;
  endpoint = `https://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  core.pools.check();
  if (options.announce) {
    options.announce(`local Azure listening on ${endpoint} (ARM, Key Vault, Entra ID signing keys and Application Insights ingestion; trust ${certificate.caFile})`);
    for (const line of describeLatency(core.latency)) options.announce(`  latency assumption: ${line}`);
  }

  const vmNamed = (name: string) => {
    const vm = state.findVmByName(name);
    if (!vm) throw new Error(`the emulator has no VM named ${name}`);
    return vm;
  };
  return {
    endpoint,
    keyVaultUrl: endpoint,
    caFile: certificate.caFile,
    appInsightsConnectionString: `InstrumentationKey=${core.instrumentationKey};IngestionEndpoint=${endpoint}/`,
    authorityHost: endpoint,
    entra: core.entra,
    latency: core.latency,
    record,
    control: {
      bumpEtagBeforeNextWrite(resourceId) {
        const target = state.nics.get(key(resourceId)) ?? state.findPool(resourceId)?.pool;
        if (!target) throw new Error(`the emulator has no NIC or backend pool ${resourceId}`);
        target.bumpEtagBeforeNextWrite = true;
      },
      setPowerState(vmName, powerState) {
        const vm = vmNamed(vmName);
        vm.powerState = powerState;
        record.powerChanges.push({ vm: vm.name, state: powerState });
        core.powerChanged(vm.name, powerState);
      },
      setSecret(name, value) {
        state.addSecretVersion(name, value, undefined, undefined);
      },
      setKeyVaultRole(role) {
        core.keyVaultRole = role;
      },
      secret: (name) => state.secrets.get(key(name))?.at(-1)?.value,
      pools: () => [...state.loadBalancers.values()].map((lb) => poolsSnapshot(state, lb)),
      powerState: (vmName) => vmNamed(vmName).powerState,
      holdOperations: () => timers.hold(),
      makeArmUnavailable: (mode, armOptions) => core.arm.makeUnavailable(mode, armOptions),
      makeArmAvailable: () => core.arm.makeAvailable(),
      hangingArmRequests: () => core.arm.hangingRequests,
    },
    async stop() {
      timers.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(certificate.dir, { recursive: true, force: true });
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export { createBashExecutor, type GuestExecutor, type GuestResult, type GuestRunOptions, type GuestVm } from './guest-executor';
export { describeLatency, REALISTIC_LATENCY, ZERO_LATENCY, type LatencyOption, type LatencyProfile } from './latency';
export type { EmulatorRecord, PoolMemberInfo, PoolsSnapshot, ScriptExecutionRecord } from './record';
export { isOff, type VmPowerState } from './state';
export { createEntraIssuer, vmPrincipalId, type EntraIssuer } from './entra';
export { failoverRoleAssignment, worldFromCluster, type EmulatorWorld, type KeyVaultRole, type WorldLoadBalancer, type WorldVm } from './world';
export type { RoleAssignment } from './authorization';
export { ARM_UNAVAILABLE_RETRY_AFTER_SECONDS, type ArmUnavailableMode, type ArmUnavailableOptions } from './arm-availability';
export {
  startScheduledEventsEmulator,
  type ScheduledEventsEmulator,
  type ScheduledEventsEmulatorOptions,
  type ScheduleEventOptions,
} from './scheduled-events';
