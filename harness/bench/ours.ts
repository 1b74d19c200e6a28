import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalStack, LocalStack } from '../local/stack';
import { describeLatency, resolveLatency } from '../local/azure-emulator/latency';
import { deploymentPlatform, describeDeploymentPlatform } from '../local/deployment-platform';
import type { DurableBackend } from '../local/runtime/host/durable-backend';
import { AZURE_SETTING_NAMES } from '../../src/adapters/azure';
import { DEFAULT_ARM_REQUEST_TIMEOUT_MS } from '../../src/adapters/azure/settings';
import type { ArmUnavailableMode } from '../local/azure-emulator/arm-availability';
import { FailoverApiClient } from '../../cli/api-client';
import { OperationReport } from '../../src/domain/operation';
import { Lab } from '../lab/lab';
import { appConfig } from '../../src/app/services';
import { parseSchedule } from '../local/runtime';
import { Environment, RunResult, Scenario } from './scenario';
import { LoadSettings, measureUnderLoad, writeFigures, stepRole } from './measure';
import { DetectionVariant, describeOurDetection, everySecondsSchedule, HEALTH_CHECK_SCHEDULE_SETTING, killMoment, probePhase } from './detection';
import { describeLoadBalancing, grantFirstLease, setProbePhase } from './load-balancing';
import type { LabLoadBalancing } from '../local/lab-cluster';

export type LatencyName = 'zero' | 'realistic';
export type PromoteMethod = 'sql' | 'runCommand';

/** Bounds for one of our switchovers: the zero profile takes seconds, the realistic one a minute or two. */
const OPERATION_TIMEOUT_MS: Record<LatencyName, number> = { zero: 180_000, realistic: 900_000 };
/** Probe mode: bound for the first health check's lease to open the write frontend (realistic: Durable dispatch, the agent's look, a 5 s probe). */
const FIRST_LEASE_TIMEOUT_MS: Record<LatencyName, number> = { zero: 60_000, realistic: 180_000 };

/** The schedule the app registers when HEALTH_CHECK_SCHEDULE is set (a %...% expression the runtime resolves at each start). */
const SCHEDULE_EXPRESSION = `%${HEALTH_CHECK_SCHEDULE_SETTING}%`;
/** The app's own default (src/functions/health-check.ts), for stacks whose timers do not run. */
const DEFAULT_SCHEDULE = '*/5 * * * * *';

/**
 * For the unplanned failover: the health-check timer runs on its real schedule (set through the
 * HEALTH_CHECK_SCHEDULE app setting), with the detection variant's health policy.
 * fenceByPowerOff as in test/integration/failover/kill-primary.test.ts: the failover powers the
 * dead primary's VM off, so it stays down (as a dead VM would) until the bench starts it again.
 */
export interface FailoverSetup {
  detection: DetectionVariant;
  fenceByPowerOff: boolean;
}

/**
 * Our side: the real app on the local stack (lab + local Azure + local Functions runtime), one
 * stack per promotion path, latency profile and load-balancing mode (and, for failovers, detection
 * variant), its nodes on 127.<block>.x.
 *
 * Probe mode (loadBalancing 'probe', docs/design.md §9) runs the health-check timer on its schedule
 * even for switchovers: the write lease lapses after leaseTtlSeconds (15 s by default) unless a check renews
 * it, and a primary whose lease lapsed while a standby is not streaming from it (the old primary
 * during its rejoin) fences itself — as deployed, where the timer always runs.
 */
export class OurStackEnvironment implements Environment {
  readonly name: string;
  private stack: LocalStack | undefined;
  private dirs: string[] = [];
  private labOptions: { stateDir: string; addressBlock: string } | undefined;
  readonly functionKey = randomBytes(16).toString('hex');

  constructor(
    readonly latency: LatencyName,
    readonly promoteMethod: PromoteMethod,
    private readonly addressBlock: string,
    readonly failover?: FailoverSetup,
    readonly durableBackend: DurableBackend = 'dts',
    readonly loadBalancing: LabLoadBalancing = 'pools',
    /** ARM unavailable from the first lease on (probe mode only: in pools mode the app moves the writer through ARM). */
    readonly armUnavailable?: ArmUnavailableMode,
  ) {
    if (armUnavailable && loadBalancing !== 'probe') throw new Error('ARM unavailable needs probe load balancing: in pools mode the app moves the writer through ARM');
    const arm = armUnavailable ? `, ${describeArmOutage(armUnavailable)}` : '';
    this.name = failover
      ? `ours (promote ${promoteMethod}, ${latency} Azure latency, ${loadBalancing} load balancing, health check on its schedule, ${failover.detection.name} detection${arm})`
      : `ours (promote ${promoteMethod}, ${latency} Azure latency, ${loadBalancing} load balancing${loadBalancing === 'probe' ? ', health check on its schedule' : ''}${arm})`;
  }

  /** The health check's NCRONTAB schedule in this stack. */
  get schedule(): string {
    return this.failover ? everySecondsSchedule(this.failover.detection.ours.everySeconds) : DEFAULT_SCHEDULE;
  }

  /** Whether the timers run on their schedule: for failovers (the health check detects), and in probe mode (it renews the lease). */
  get timersScheduled(): boolean {
    return !!this.failover || this.loadBalancing === 'probe';
  }

  private policy(): Record<string, unknown> {
    if (!this.failover) return { promoteMethod: this.promoteMethod };
    const { failureThreshold, graceSeconds, probeTimeoutMs, leaseTtlSeconds } = this.failover.detection.ours;
    return { promoteMethod: this.promoteMethod, fenceByPowerOff: this.failover.fenceByPowerOff, leaseTtlSeconds, health: { failureThreshold, graceSeconds, probeTimeoutMs } };
  }

  get current(): LocalStack {
    if (!this.stack) throw new Error(`${this.name} is not up`);
    return this.stack;
  }

  api(): FailoverApiClient {
    return new FailoverApiClient(this.current.origin!, this.functionKey);
  }

  async up(say: (line: string) => void): Promise<void> {
    process.env.PG_FAILOVER_QUIET = '1';
    // Set for every stack, before the first one loads the app: the app reads the setting when it
    // registers its functions (once per process) and registers %HEALTH_CHECK_SCHEDULE% only if it
    // exists then; the runtime resolves that expression again at each start.
    process.env[HEALTH_CHECK_SCHEDULE_SETTING] = this.schedule;
    const stateDir = mkdtempSync(join(tmpdir(), 'pgfo-bench-stack-'));
    // Its own directory: under root the lab's servers run as postgres, which must reach it.
    const labDir = mkdtempSync(join(tmpdir(), 'pgfo-bench-lab-'));
    this.dirs = [stateDir, labDir];
    const lab = { stateDir: labDir, addressBlock: this.addressBlock };
    this.labOptions = lab;
    say(
      `  starting our stack: 3-node lab on 127.${this.addressBlock}.11-13, local Azure (${this.latency} latency), local Functions runtime (promoteMethod ${this.promoteMethod}, ${this.loadBalancing} load balancing` +
        `${this.failover ? `; timers on their schedule: ${describeOurDetection(this.failover.detection.ours)}; fenceByPowerOff ${this.failover.fenceByPowerOff}` : this.timersScheduled ? `; health check on its schedule "${this.schedule}" (renews the write lease)` : ''})`,
    );
    try {
      this.stack = await startLocalStack({
        stateDir,
        lab,
        latency: this.latency,
        // Realistic rows include the Durable backend's own dispatch latency (and cold starts, none with the shipped always-ready instances).
        dispatchLatency: this.latency === 'realistic' ? 'deployment' : 'none',
        durableBackend: this.durableBackend,
        policy: this.policy(),
        scheduleTimers: this.timersScheduled,
        loadBalancing: this.loadBalancing,
        listen: { host: `127.${this.addressBlock}.1`, port: 7071 },
        functionKey: this.functionKey,
        log: () => undefined,
      });
    } catch (error) {
      // A stack that failed half-way must not keep the block's addresses.
      await Lab.down(lab).catch(() => undefined);
      this.removeDirs();
      throw error;
    }
    const policy = appConfig().clusters[0]?.policy;
    if (policy?.promoteMethod !== this.promoteMethod) throw new Error(`the app runs with promoteMethod ${String(policy?.promoteMethod)}, not ${this.promoteMethod}`);
    const membership = appConfig().clusters[0]?.loadBalancer.membership;
    if (membership !== (this.loadBalancing === 'probe' ? 'probe' : 'nic')) throw new Error(`the app runs with loadBalancer.membership ${String(membership)}, not the ${this.loadBalancing} mode`);
    if (this.failover) {
      const wanted = this.failover.detection.ours;
      const { failureThreshold, graceSeconds, probeTimeoutMs } = policy.health;
      const leaseDiffers = policy.leaseTtlSeconds !== wanted.leaseTtlSeconds;
      if (failureThreshold !== wanted.failureThreshold || graceSeconds !== wanted.graceSeconds || probeTimeoutMs !== wanted.probeTimeoutMs || policy.fenceByPowerOff !== this.failover.fenceByPowerOff || leaseDiffers) {
        throw new Error(`the app runs with health ${JSON.stringify(policy.health)}, fenceByPowerOff ${policy.fenceByPowerOff} and leaseTtlSeconds ${policy.leaseTtlSeconds}, not the ${this.failover.detection.name} detection settings`);
      }
    }
    if (this.timersScheduled) {
      const timer = this.stack.runtime.functions().find((f) => f.name === 'healthCheck');
      const registered = String(timer?.trigger.schedule ?? '');
      // The app registered its timer before HEALTH_CHECK_SCHEDULE was set: it would run on its default whatever we asked.
      if (registered !== SCHEDULE_EXPRESSION) throw new Error(`the health check is registered with schedule "${registered}", not ${SCHEDULE_EXPRESSION}: the app was loaded before the setting was made`);
      const resolved = parseSchedule(registered).expression;
      if (resolved !== this.schedule) throw new Error(`the health check runs on "${resolved}", not "${this.schedule}"`);
    }
    if (this.loadBalancing === 'probe') {
      const tookMs = await grantFirstLease(this.stack, FIRST_LEASE_TIMEOUT_MS[this.latency]);
      say(`  probe mode: the first health check granted the write lease; the write frontend took writes ${Math.round(tookMs)} ms after it was fired`);
    }
    if (this.armUnavailable) {
      // As an outage of ARM's front door: 503s carry ARM's shortest documented Retry-After.
      this.stack.azure.control.makeArmUnavailable(this.armUnavailable);
      say(`  ARM unavailable from now on: ${describeArmOutage(this.armUnavailable)} (the app's ARM request timeout ${process.env[AZURE_SETTING_NAMES.armRequestTimeoutMs] ?? DEFAULT_ARM_REQUEST_TIMEOUT_MS} ms)`);
    }
  }

  async down(): Promise<void> {
    const stack = this.stack;
    this.stack = undefined;
    const lab = this.labOptions;
    this.labOptions = undefined;
    try {
      if (stack) await stack.stop();
      // Interrupted while starting: the lab may be half up without a stack to stop it.
      else if (lab) await Lab.down(lab);
    } finally {
      this.removeDirs();
    }
  }

  private removeDirs(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs = [];
  }

  describe(): string[] {
    const profile = resolveLatency(this.latency);
    const policy = this.stack?.cluster.policy;
    const health = policy?.health;
    return [
      describeLoadBalancing(this.loadBalancing, this.stack),
      ...(this.armUnavailable ? [`ARM: ${describeArmOutage(this.armUnavailable)}, from the first write lease on; Run Command, power state and power-off fail, the node agents carry the steps`] : []),
      `promoteMethod ${this.promoteMethod}; policy pollIntervalMs ${policy?.pollIntervalMs ?? '?'}, catchupTimeoutSeconds ${policy?.catchupTimeoutSeconds ?? '?'}; ARM polling every ${process.env[AZURE_SETTING_NAMES.pollIntervalMs] ?? '?'} ms unless Azure sends Retry-After`,
      ...(!this.failover && this.timersScheduled ? [`health check on its real schedule: HEALTH_CHECK_SCHEDULE "${this.schedule}" (the app's default), renewing the write lease (policy leaseTtlSeconds ${policy?.leaseTtlSeconds ?? '?'})`] : []),
      ...(this.failover
        ? [
            `health check on its real schedule: HEALTH_CHECK_SCHEDULE "${this.schedule}"; policy.health failureThreshold ${health?.failureThreshold ?? '?'}, graceSeconds ${health?.graceSeconds ?? '?'}, probeTimeoutMs ${health?.probeTimeoutMs ?? '?'} (${this.failover.detection.name} detection); ` +
              `autoFailover ${policy?.autoFailover ?? '?'}, fenceByPowerOff ${policy?.fenceByPowerOff ?? '?'}, maxLagBytesForFailover ${policy?.maxLagBytesForFailover ?? '?'} (asynchronous replication)`,
          ]
        : []),
      `Azure latency profile "${this.latency}"${this.latency === 'zero' ? ': every Azure operation completes at once (still 202 + polling)' : ' (assumptions from field reports, not measurements):'}`,
      ...(this.latency === 'zero' ? [] : describeLatency(profile).map((line) => `  ${line}`)),
      ...(this.latency === 'zero'
        ? [`Functions platform: no Durable dispatch latency or cold start modelled; ${this.durableBackend === 'dts' ? 'Durable Task Scheduler payload limit (1 MB) enforced' : 'Azure Storage backend (no payload limit)'}`]
        : ['Functions platform (the deployment as shipped):', ...describeDeploymentPlatform(deploymentPlatform({ backend: this.durableBackend })).map((line) => `  ${line}`)]),
    ];
  }

  settings(): Record<string, unknown> {
    return {
      promoteMethod: this.promoteMethod,
      loadBalancing: this.loadBalancing,
      arm: this.armUnavailable ? describeArmOutage(this.armUnavailable) : 'available',
      ...(this.failover
        ? { healthCheckSchedule: this.schedule, scheduleTimers: true, detection: this.failover.detection, fenceByPowerOff: this.failover.fenceByPowerOff }
        : this.timersScheduled
          ? { healthCheckSchedule: this.schedule, scheduleTimers: true }
          : { scheduleTimers: false }),
      latencyProfile: this.latency,
      latency: resolveLatency(this.latency),
      latencyAssumptions: describeLatency(resolveLatency(this.latency)),
      durableBackend: this.durableBackend,
      functionsPlatform: this.latency === 'realistic' ? deploymentPlatform({ backend: this.durableBackend }) : { dispatchLatency: 'none' },
      policy: this.stack?.cluster.policy,
      armPollIntervalMs: process.env[AZURE_SETTING_NAMES.pollIntervalMs],
      addressBlock: this.addressBlock,
      loadBalancer: 'the lab TCP load balancer playing the Azure ILB write frontend',
      loadBalancerMode: describeLoadBalancing(this.loadBalancing, this.stack),
      ...(this.loadBalancing === 'probe' ? { probes: this.stack?.lab.layout.ilb.probes ?? null } : {}),
    };
  }
}

/** Planned switchovers through the app's HTTP API, rotating the target A→B→C→A… on one stack. */
export class OurSwitchoverScenario implements Scenario {
  readonly tool = 'ours' as const;
  readonly kind = 'switchover' as const;
  readonly id: string;
  readonly label: string;
  readonly variant: Record<string, string>;

  constructor(
    readonly environment: OurStackEnvironment,
    readonly runs: number,
    private readonly load: LoadSettings,
  ) {
    const { promoteMethod, latency, loadBalancing, armUnavailable } = environment;
    // Pool-mode ids as before the probe mode existed, so older results files line up.
    this.id = `ours/switchover/${promoteMethod}/${latency}${loadBalancing === 'pools' ? '' : `/${loadBalancing}`}${armUnavailable ? `/arm-${armUnavailable}` : ''}`;
    this.label = `ours, ${promoteMethod === 'sql' ? 'SQL' : 'Run Command'} promote, ${loadBalancing}, ${latency === 'zero' ? 'zero latency' : 'realistic (Azure projection)'}${armUnavailable ? `, ARM ${ARM_LABEL[armUnavailable]}` : ''}`;
    this.variant = { promoteMethod, latency, loadBalancing, ...(armUnavailable ? { arm: armUnavailable } : {}) };
  }

  async runOnce(run: number, say: (line: string) => void): Promise<RunResult> {
    const stack = this.environment.current;
    const nodes = stack.cluster.nodes.map((n) => n.name);
    const before = await stack.lab.waitUntilHealthy(60_000);
    const from = before.nodes.find((n) => n.role === 'primary')!.name;
    const to = nodes[(nodes.indexOf(from) + 1) % nodes.length];
    const api = this.environment.api();
    const timeoutMs = OPERATION_TIMEOUT_MS[this.environment.latency];
    // Probe mode: the switchover starts on a wall-clock multiple of the probe interval, with the
    // probes moved to an even spread of phases across runs (harness/bench/detection.ts probePhase).
    const phase = probePhase(run, this.runs);
    const probeInterval = await setProbePhase(stack, phase);
    const beforeStart = async () => {
      if (probeInterval === undefined) return;
      const now = Date.now();
      await sleep(killMoment(now, probeInterval / 1000, 0, 100) - now);
    };

    const measured = await measureUnderLoad(stack.lab.appEndpoint('write'), this.load, async () => {
      const started = performance.now();
      const { status, body } = await api.request('POST', `clusters/${stack.cluster.name}/switchover`, { target: to });
      if (status !== 202) throw new Error(`the switchover was refused (${status}): ${String(body.detail ?? JSON.stringify(body))}`);
      const operationId = String(body.operationId);
      const report = await waitForOperation(api, stack.cluster.name, operationId, timeoutMs);
      return { report, durationMs: performance.now() - started };
    }, { beforeStart });
    const { report, durationMs } = measured.result;
    // The next run needs every standby streaming again; the operation's own last step checked it, this is the bench's own check.
    await stack.lab.waitUntilHealthy(60_000).catch(() => undefined);
    const roles = { old: report.oldPrimary ?? from, new: report.newPrimary ?? to, nodes };
    const result: RunResult = {
      run,
      from: report.oldPrimary ?? from,
      to: report.newPrimary ?? to,
      outcome: report.outcome,
      ...(report.reason ? { reason: report.reason } : {}),
      ...writeFigures(measured),
      totalDurationMs: Math.round(durationMs),
      firstCommitOnNewPrimaryMs: measured.firstCommitOnFinalMs,
      steps: report.steps.map((s) => ({ name: stepRole(s.name, roles), durationMs: s.durationMs ?? null, result: s.result })),
      details: {
        operationId: report.operationId,
        rejoinMethod: report.rejoinMethod ?? null,
        problems: report.problems,
        ...(probeInterval ? { probePhaseOfInterval: phase, probeIntervalMs: probeInterval } : {}),
        ...(measured.lostCheckError ? { lostCheckError: measured.lostCheckError } : {}),
      },
    };
    say(`    run ${run}: ${result.from} → ${result.to} ${result.outcome}, write outage ${result.writeOutageMs} ms, lost ${result.lostCommits ?? '?'}, total ${result.totalDurationMs} ms`);
    return result;
  }
}

/** Short forms for the scenario labels. */
export const ARM_LABEL: Record<ArmUnavailableMode, string> = { '503': 'answering 503', timeout: 'timing out' };

export function describeArmOutage(mode: ArmUnavailableMode): string {
  return mode === '503' ? 'every ARM request answered 503 ServiceUnavailable' : 'every ARM request left unanswered (the client times out)';
}

/** Polls the operation through the API (100 ms, finer than the CLI's 250 ms) until it ends or the bound passes. */
export async function waitForOperation(api: FailoverApiClient, cluster: string, operationId: string, timeoutMs: number): Promise<OperationReport> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const report = await api.operation(cluster, operationId);
    if (report.outcome !== 'running') return report;
    if (performance.now() > deadline) throw new Error(`${report.kind} ${operationId} still running after ${Math.round(timeoutMs / 1000)} s (at step "${report.currentStep ?? '?'}")`);
    await sleep(100);
  }
}
