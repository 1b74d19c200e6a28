import { BenchOptions, failoverPromoteMethod } from './options';
import { LoadSettings } from './measure';
import { OurStackEnvironment, OurSwitchoverScenario } from './ours';
import { OurFailoverScenario } from './ours-failover';
import { PatroniEnvironment, PatroniFailoverScenario, PatroniSwitchoverScenario } from './patroni/scenarios';
import { PendingScenario, Scenario } from './scenario';
import { DETECTION, DetectionName, failoverAzureCriticalPath } from './detection';
import { REALISTIC_LATENCY } from '../local/azure-emulator/latency';
import { deploymentPlatform } from '../local/deployment-platform';
import { describeDispatchLatency } from '../local/runtime/durable/dispatch-latency';
import type { DurableBackend } from '../local/runtime/host/durable-backend';
import type { ArmUnavailableMode } from '../local/azure-emulator/arm-availability';

export interface BenchPlan {
  scenarios: Scenario[];
  pending: PendingScenario[];
  load: LoadSettings;
  /** Printed under the failover figures: what was not run and what it would add. */
  failoverNotes: string[];
}

/** Our failovers fence by power-off, as test/integration/failover/kill-primary.test.ts does (see ours.ts FailoverSetup). */
export const FAILOVER_FENCE_BY_POWER_OFF = true;

/**
 * The scenarios in the order they run: ours at zero latency (switchovers), then the peer
 * (switchovers and its kill -9 failover with its default timing), then our kill -9 failovers per
 * detection variant, then Patroni's failover with the fast timing, then ours with the realistic
 * Azure latency and Patroni behind a front probing like Azure's load balancer (the slow ones
 * last, so a quick look at the table comes early). Scenarios that
 * share an environment are adjacent: it comes up once for them.
 */
export function planBench(options: BenchOptions): BenchPlan {
  const load: LoadSettings = { commitsAround: options.commits, recoveryTimeoutMs: 120_000 };
  const scenarios: Scenario[] = [];
  const pending: PendingScenario[] = [];
  const failoverNotes: string[] = [];
  const ourRuns = (profile: 'zero' | 'realistic') => (profile === 'zero' ? options.runs : options.realisticRuns);
  const switchovers = (profile: 'zero' | 'realistic') => {
    if (!options.ours || !options.profiles.includes(profile) || ourRuns(profile) === 0) return;
    for (const balancing of options.loadBalancing) {
      for (const method of options.methods) {
        for (const arm of armOutages(balancing, '503')) {
          scenarios.push(new OurSwitchoverScenario(new OurStackEnvironment(profile, method, options.blocks.ours, undefined, options.durableBackend, balancing, arm), ourRuns(profile), load));
        }
      }
    }
  };
  /** ARM available (undefined) and/or unavailable in `mode`; unavailable only in probe mode. */
  const armOutages = (balancing: string, mode: ArmUnavailableMode): Array<ArmUnavailableMode | undefined> => [
    ...(options.arm.includes('available') ? [undefined] : []),
    ...(options.arm.includes('unavailable') && balancing === 'probe' ? [mode] : []),
  ];
  const failoverMethod = failoverPromoteMethod(options);
  const failovers = (profile: 'zero' | 'realistic', detection: DetectionName) => {
    const runs = profile === 'zero' ? options.failoverRuns : options.realisticFailoverRuns;
    if (!options.ours || !options.profiles.includes(profile) || runs === 0 || !options.detection.includes(detection)) return;
    for (const balancing of options.loadBalancing) {
      const setup = { detection: DETECTION[detection], fenceByPowerOff: FAILOVER_FENCE_BY_POWER_OFF };
      for (const arm of armOutages(balancing, 'timeout')) {
        const environment = new OurStackEnvironment(profile, failoverMethod, options.blocks.ours, setup, options.durableBackend, balancing, arm);
        // A vanished VM comes back by a power-on, which needs ARM.
        for (const fault of options.faults.filter((f) => f === 'kill' || !arm)) scenarios.push(new OurFailoverScenario(environment, runs, load, fault));
      }
    }
  };

  switchovers('zero');
  if (options.peer) {
    const patroni = new PatroniEnvironment(options.blocks.peer, options.install, DETECTION.standard);
    scenarios.push(new PatroniSwitchoverScenario(patroni, options.runs, load));
    if (options.failoverRuns > 0 && options.detection.includes('standard')) {
      for (const fault of options.faults) scenarios.push(new PatroniFailoverScenario(patroni, options.failoverRuns, load, fault));
    }
  }
  failovers('zero', 'standard');
  failovers('zero', 'fast');
  if (options.peer && options.failoverRuns > 0 && options.detection.includes('fast')) {
    const patroniFast = new PatroniEnvironment(options.blocks.peerFast, options.install, DETECTION.fast);
    for (const fault of options.faults) scenarios.push(new PatroniFailoverScenario(patroniFast, options.failoverRuns, load, fault));
  }
  switchovers('realistic');
  for (const detection of options.detection) failovers('realistic', detection);
  // Beside our realistic rows, Patroni as it runs on Azure VMs: behind the load balancer's probe.
  if (options.peer && options.profiles.includes('realistic')) {
    for (const detection of options.detection) {
      const switchoverRuns = detection === 'standard' ? options.realisticRuns : 0;
      if (switchoverRuns === 0 && options.realisticFailoverRuns === 0) continue;
      const onAzure = new PatroniEnvironment(detection === 'standard' ? options.blocks.peer : options.blocks.peerFast, options.install, DETECTION[detection], 'azure-ilb');
      if (switchoverRuns > 0) scenarios.push(new PatroniSwitchoverScenario(onAzure, switchoverRuns, load));
      if (options.realisticFailoverRuns > 0) for (const fault of options.faults) scenarios.push(new PatroniFailoverScenario(onAzure, options.realisticFailoverRuns, load, fault));
    }
  }

  const oursFailsOver = scenarios.some((s) => s.tool === 'ours' && s.kind === 'failover');
  const realisticFailover = scenarios.some((s) => s.tool === 'ours' && s.kind === 'failover' && s.variant.latency === 'realistic');
  if (oursFailsOver && !realisticFailover) failoverNotes.push(...realisticProjection(failoverMethod, options.durableBackend));
  return { scenarios, pending, load, failoverNotes };
}

/** Not run by default (minutes per run): what the realistic Azure latency profile would add to our failover's outage, from its assumptions. */
export function realisticProjection(promoteMethod: 'sql' | 'runCommand', durableBackend: DurableBackend = 'dts'): string[] {
  const path = failoverAzureCriticalPath(REALISTIC_LATENCY, { fenceByPowerOff: FAILOVER_FENCE_BY_POWER_OFF, promoteMethod, membership: 'nic' });
  const total = path.reduce((sum, p) => sum + p.ms, 0);
  return [
    `Our failover with realistic Azure latency was not run (--realistic-failover-runs N runs it; minutes per run). Projection, not a measurement: the Azure calls between the kill and the first write on the new primary`,
    `  would add about ${Math.round(total / 1000)} s to our zero-latency outage under the emulator's assumptions (${path.map((p) => `${p.step} ${Math.round(p.ms / 1000)} s`).join('; ')}),`,
    `  plus ARM polling granularity (network Retry-After ${REALISTIC_LATENCY.retryAfterSeconds.network ?? 'none'} s). Patroni needs no Azure call; on Azure its writes would wait for the load balancer's probe (5 s interval) instead of HAProxy's 1 s checks.`,
    `  Also not in the projection: the Durable backend's dispatch latency on every step (${describeDispatchLatency(deploymentPlatform({ backend: durableBackend }).dispatchLatency).join('; ')}).`,
  ];
}
