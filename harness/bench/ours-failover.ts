import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspectNode } from '../../src/adapters/postgres/inspect';
import { streamsFrom } from '../../src/domain/cluster-view';
import { HealthState, rejoinInstanceId } from '../../src/domain/health';
import { NodeInspection } from '../../src/domain/node-state';
import { OperationReport, REPOINT_STEP } from '../../src/domain/operation';
import { LocalStack } from '../local/stack';
import { waitFor } from '../util/wait';
import type { RejoinReport } from '../../orchestrations/cluster-monitor-rejoin';
import { FailoverApiClient } from '../../cli/api-client';
import { expectedOurDetection, killMoment, killPhase, probePhase, shortOurDetection } from './detection';
import { setProbePhase } from './load-balancing';
import { LoadSettings, measureUnderLoad, writeFigures, stepRole } from './measure';
import { ARM_LABEL, OurStackEnvironment } from './ours';
import type { FailoverFault } from './options';
import { RunResult, Scenario, StepTiming } from './scenario';

/** Bounds for one failover operation once the health check started it (zero: seconds; realistic: a power-off, pool updates, Run Commands). */
const OPERATION_TIMEOUT_MS = { zero: 180_000, realistic: 900_000 } as const;
/** Bound for the old primary to be rejoined once it runs again, beyond one check interval. */
const REJOIN_TIMEOUT_MS = { zero: 300_000, realistic: 900_000 } as const;

/** One of our failovers in the bench: what the run learnt besides the write load's figures. */
interface FailoverOutcome {
  killedAt: number;
  report: OperationReport;
  decided: HealthState;
  /** From the kill until the failover operation reported its end. */
  operationEndedMs: number;
}

/**
 * Our unplanned failover as a dying primary: kill -9 of the primary's postmaster (the lab's
 * `kill()`, as the Patroni scenario kills Patroni's postmaster and Patroni) while the write load
 * runs; the health-check timer fires on its real schedule and, after failureThreshold failed
 * checks over graceSeconds with no standby streaming, starts the failover itself. The bench only
 * watches through the app's HTTP API (GET .../health for the monitor's state and the operation it
 * started, GET .../operations/{id} for its timeline). With fenceByPowerOff the failover powers
 * the dead primary's VM off; afterwards the bench starts that VM again (as
 * test/integration/failover/kill-primary.test.ts does: the emulator starts its PostgreSQL, which
 * comes back writable outside the pools after crash recovery) and times until the health check
 * has fenced it, rejoined it (pg_rewind) and it streams from the new primary.
 */
export class OurFailoverScenario implements Scenario {
  readonly tool = 'ours' as const;
  readonly kind = 'failover' as const;
  readonly id: string;
  readonly label: string;
  readonly variant: Record<string, string>;
  readonly detection: string;

  constructor(
    readonly environment: OurStackEnvironment,
    readonly runs: number,
    private readonly load: LoadSettings,
    private readonly fault: FailoverFault = 'kill',
  ) {
    if (!environment.failover) throw new Error(`${environment.name} does not run the health check on its schedule`);
    const { promoteMethod, latency, loadBalancing, armUnavailable } = environment;
    const name = environment.failover.detection.name;
    this.id = `ours/failover/${promoteMethod}/${latency}/${name}${loadBalancing === 'pools' ? '' : `/${loadBalancing}`}${armUnavailable ? `/arm-${armUnavailable}` : ''}${fault === 'kill' ? '' : `/${fault}`}`;
    this.label = `ours, ${fault === 'kill' ? 'kill -9 primary' : "primary's VM vanishes"}, ${name} detection${loadBalancing === 'pools' ? '' : `, ${loadBalancing}`}${armUnavailable ? `, ARM ${ARM_LABEL[armUnavailable]}` : ''}${latency === 'realistic' ? ', realistic (Azure projection)' : ''}`;
    this.variant = { promoteMethod, latency, detection: name, loadBalancing, ...(armUnavailable ? { arm: armUnavailable } : {}), ...(fault === 'kill' ? {} : { fault }) };
    this.detection = shortOurDetection(environment.failover.detection.ours);
  }

  async runOnce(run: number, say: (line: string) => void): Promise<RunResult> {
    const stack = this.environment.current;
    const api = this.environment.api();
    const cluster = stack.cluster.name;
    const nodes = stack.cluster.nodes.map((n) => n.name);
    const detection = this.environment.failover!.detection.ours;
    const everyMs = detection.everySeconds * 1000;
    const latency = this.environment.latency;

    // Before: converged, and a check by the timer taken after that found the primary healthy (the
    // monitor then knows the primary and its LSN: the reference of the loss bound, docs/invariants.md S7).
    const before = await stack.lab.waitUntilHealthy(120_000);
    const from = before.nodes.find((n) => n.role === 'primary')!.name;
    const baselineSince = new Date().toISOString();
    const baseline = await pollHealth(
      api,
      cluster,
      (s) => !!s.lastCheck && s.lastCheck.at >= baselineSince && s.lastCheck.verdict === 'healthy' && s.primary?.name === from && s.pendingRejoin.length === 0,
      2 * everyMs + 60_000,
      `a check by the health-check timer (every ${detection.everySeconds} s) that finds ${from} healthy`,
    );
    const previousOperation = baseline.lastOperation?.operationId ?? null;
    const detectionBoundMs = expectedOurDetection(detection).toMs + 120_000;

    // Kill at an even spread of points in the check cycle across runs (mid-cycle for one run), and
    // (probe mode) move the load balancer's probes across their interval the same way.
    const phase = killPhase(run, this.runs);
    const probesAt = probePhase(run, this.runs);
    const probes = await setProbePhase(stack, probesAt);
    const beforeStart = async () => {
      const now = Date.now();
      await sleep(killMoment(now, detection.everySeconds, phase, 100) - now);
    };
    const measured = await measureUnderLoad(stack.lab.appEndpoint('write'), { ...this.load, recoveryTimeoutMs: Math.max(this.load.recoveryTimeoutMs, 180_000) }, async (): Promise<FailoverOutcome> => {
      const started = performance.now();
      const killedAt = Date.now();
      // SIGKILL at once; kill() then waits until the postmaster is gone (reaped). A vanishing VM goes
      // silent first, and its agent dies with it.
      if (this.fault === 'vanish') await stack.lab.vanish(from);
      else await stack.lab.server(from).kill();
      const decided = await pollHealth(
        api,
        cluster,
        (s) => !!s.lastOperation && s.lastOperation.operationId !== previousOperation,
        detectionBoundMs,
        `the health check to start a failover after the kill of ${from}`,
      );
      const launched = decided.lastOperation!;
      if (!launched.started) throw new Error(`the health check did not start a failover: ${decided.lastAction?.detail ?? 'no detail'}`);
      const report = await waitForReport(api, cluster, launched.operationId, OPERATION_TIMEOUT_MS[latency]);
      const operationEndedMs = performance.now() - started;
      if (report.outcome !== 'completed') throw new Error(`failover ${report.operationId} ${report.outcome}: ${report.reason ?? 'no reason given'}`);
      return { killedAt, report, decided, operationEndedMs };
    }, { beforeStart });
    const { killedAt, report, decided, operationEndedMs } = measured.result;
    const to = report.newPrimary ?? null;
    if (!to) throw new Error(`failover ${report.operationId} completed without naming the new primary`);
    const roles = { old: from, new: to, nodes };

    // The old primary comes back: its VM starts again (powered off by the fence), or its PostgreSQL
    // does — unless the failover rejoined it already (its agent said its VM runs without a postmaster).
    // A probe-mode failover may promote on the lapsed lease while the old primary's power-off still
    // runs (Azure's ~30 s): the VM is started again only once that ended, as ARM would refuse a start meanwhile.
    await waitFor(`${from}'s power-off to end`, () => !['stopping', 'deallocating'].includes(stack.azure.control.powerState(from)), { timeoutMs: 180_000, intervalMs: 200 });
    const powerState = stack.azure.control.powerState(from);
    // (The step ends 'ok' also when it found the old primary could not be rejoined yet: its VM off.)
    const rejoinedByFailover = report.rejoinMethod !== undefined;
    if (!rejoinedByFailover) await waitFor(`${from}'s killed postmaster to be gone`, async () => !(await stack.lab.server(from).isRunning()), { timeoutMs: 60_000, intervalMs: 100 });
    const restartAt = performance.now();
    const restartIso = new Date().toISOString();
    if (!rejoinedByFailover) {
      if (this.fault === 'vanish' && powerState === 'running') throw new Error(`the failover left ${from}'s vanished VM running as ARM sees it (not powered off): it stays silent`);
      if (powerState === 'running') await stack.lab.server(from).start();
      else stack.azure.control.setPowerState(from, 'running'); // the emulator starts the node's PostgreSQL, as the VM booting would
    }
    const answered = await waitFor(`${from} to answer after its restart`, async () => {
      const node = await inspect(stack, from);
      return node.reachable ? node : false;
    }, { timeoutMs: 180_000, intervalMs: 100 });
    const answeredMs = performance.now() - restartAt;
    await waitFor(`the health check to rejoin ${from} as a standby of ${to}`, () => converged(stack, to), { timeoutMs: REJOIN_TIMEOUT_MS[latency] + everyMs, intervalMs: 200 });
    const rejoinMs = performance.now() - restartAt;
    const rejoin = rejoinSince(stack, cluster, from, restartIso);

    const opStart = report.steps[0] ? Date.parse(report.steps[0].startedAt) : null;
    const repoint = report.steps.find((s) => s.name === REPOINT_STEP);
    const repointEnded = repoint?.durationMs === undefined ? null : Date.parse(repoint.startedAt) + repoint.durationMs;
    const firstWriteAt = measured.firstCommitOnFinalMs === null ? null : killedAt + measured.firstCommitOnFinalMs;
    const failingSince = decided.failingSince ? Date.parse(decided.failingSince) : null;
    const steps: StepTiming[] = [
      { name: `detection: ${this.fault === 'kill' ? 'kill -9 <old>' : '<old>\'s VM vanishes'} → first failed check`, durationMs: failingSince === null ? null : failingSince - killedAt, result: 'ok' },
      {
        name: 'detection: first failed check → failover started (threshold and grace met, no standby streaming)',
        durationMs: failingSince === null || opStart === null ? null : opStart - failingSince,
        result: 'ok',
      },
      ...report.steps.map((s) => ({ name: stepRole(s.name, roles), durationMs: s.durationMs ?? null, result: s.result })),
      {
        name: `load balancer repointed → first write on <new>${probes ? " (the write rule's next probe admits it)" : ''}`,
        durationMs: repointEnded === null || firstWriteAt === null ? null : Math.max(0, firstWriteAt - repointEnded),
        result: 'ok',
      },
      ...(rejoinedByFailover
        ? []
        : [
            { name: 'restart <old> (its VM started) → it answers after crash recovery, outside the pools', durationMs: Math.round(answeredMs), result: 'ok' as const },
            { name: `<old> answers → fenced and rejoined by the health check${rejoin?.method ? ` (${rejoin.method})` : ''}, streaming from <new>`, durationMs: Math.round(rejoinMs - answeredMs), result: 'ok' as const },
          ]),
      ...(rejoin?.steps ?? []).map((s) => ({ name: `  rejoin orchestration: ${stepRole(s.name, roles)}`, durationMs: s.durationMs ?? null, result: s.result })),
    ];
    const result: RunResult = {
      run,
      from,
      to,
      outcome: report.outcome,
      ...writeFigures(measured),
      // As for Patroni: the failover (here until the operation ended) plus the rejoin; the bench's pause between them is left out.
      totalDurationMs: Math.round(operationEndedMs + rejoinMs),
      firstCommitOnNewPrimaryMs: measured.firstCommitOnFinalMs,
      rejoinMs: Math.round(rejoinMs),
      steps,
      details: {
        operationId: report.operationId,
        checksToFailover: decided.consecutiveFailures,
        failingSince: decided.failingSince,
        decidingCheck: decided.lastCheck,
        killedAt: new Date(killedAt).toISOString(),
        killPhaseOfCheckCycle: phase,
        ...(probes ? { probePhaseOfInterval: probesAt, probeIntervalMs: probes } : {}),
        operationEndedAfterKillMs: Math.round(operationEndedMs),
        problems: report.problems,
        choice: report.steps.find((s) => s.name === 'choose candidate')?.detail ?? null,
        oldPrimaryPowerStateAfterFailover: powerState,
        oldPrimaryAnsweredAs: answered.reachable ? answered.role : null,
        rejoin: rejoin ? { outcome: rejoin.outcome, method: rejoin.method ?? null, reason: rejoin.reason } : null,
        ...(measured.lostCheckError ? { lostCheckError: measured.lostCheckError } : {}),
      },
    };
    say(
      `    run ${run}: ${this.fault === 'kill' ? 'kill -9' : 'vanish'} ${from} at ${Math.round(phase * 100)}% of the check cycle${probes ? ` (probes at ${Math.round(probesAt * 100)}% of theirs)` : ''} → ${to} after ${decided.consecutiveFailures} failed checks, write outage ${result.writeOutageMs} ms, first write on ${to} ${result.firstCommitOnNewPrimaryMs ?? '?'} ms after the kill, ` +
        `lost ${result.lostCommits ?? '?'}, failover ended ${Math.round(operationEndedMs)} ms after the kill; rejoin ${Math.round(rejoinMs)} ms${rejoin?.method ? ` (${rejoin.method})` : ''}`,
    );
    return result;
  }
}

const inspect = (stack: LocalStack, node: string): Promise<NodeInspection> => inspectNode(node, stack.lab.adminEndpoint(node), { connectTimeoutMs: 1000, statementTimeoutMs: 2000 });

/**
 * One primary (`primary`), every other node streaming from it, the write pool just it and the read
 * pool every other node — in probe mode, the nodes each rule has probed up.
 */
async function converged(stack: LocalStack, primary: string): Promise<boolean> {
  const names = stack.cluster.nodes.map((n) => n.name);
  const [inspections, ilb] = await Promise.all([Promise.all(names.map((n) => inspect(stack, n))), stack.lab.status().then((s) => s.ilb)]);
  const probedUp = (rule: 'write' | 'read') => Object.entries(ilb.probes![rule]).filter(([, state]) => state.up).map(([name]) => name);
  const pools = ilb.probes ? { writePool: probedUp('write'), readPool: probedUp('read') } : ilb;
  const head = inspections.find((n) => n.name === primary)!;
  if (!head.reachable || head.role !== 'primary') return false;
  const others = inspections.filter((n) => n.name !== primary);
  if (!others.every((n) => streamsFrom(n, head))) return false;
  return pools.writePool.length === 1 && pools.writePool[0] === primary && others.every((n) => pools.readPool.includes(n.name));
}

/** The rejoin the health check started for `node` after `sinceIso` (the runtime's own record; the HTTP API does not expose rejoins). */
function rejoinSince(stack: LocalStack, cluster: string, node: string, sinceIso: string): RejoinReport | undefined {
  const instance = stack.runtime.getInstance(rejoinInstanceId(cluster, node));
  if (!instance || instance.createdTime < sinceIso) return undefined;
  const text = instance.output ?? instance.customStatus;
  try {
    return text ? (JSON.parse(text) as RejoinReport) : undefined;
  } catch {
    return undefined;
  }
}

/** Polls GET /api/clusters/{c}/health until `done` holds; on timeout says what the last check concluded. */
async function pollHealth(api: FailoverApiClient, cluster: string, done: (state: HealthState) => boolean, timeoutMs: number, what: string): Promise<HealthState> {
  const deadline = performance.now() + timeoutMs;
  let last: HealthState | undefined;
  let lastError = '';
  for (;;) {
    try {
      const { status, body } = await api.request('GET', `clusters/${encodeURIComponent(cluster)}/health`);
      if (status !== 200) throw new Error(`GET health answered ${status}: ${String(body.detail ?? JSON.stringify(body))}`);
      last = body as unknown as HealthState;
      if (done(last)) return last;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (performance.now() > deadline) {
      const check = last?.lastCheck;
      const seen = check ? `last check at ${check.at}: ${check.verdict} — ${check.summary}${check.suppressed ? ` (suppressed: ${check.suppressed.because})` : ''}` : `no check seen${lastError ? ` (${lastError})` : ''}`;
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; ${seen}`);
    }
    await sleep(100);
  }
}

/** The operation's report through GET .../operations/{id} until it ends (a not-yet-visible instance is asked again). */
async function waitForReport(api: FailoverApiClient, cluster: string, operationId: string, timeoutMs: number): Promise<OperationReport> {
  const deadline = performance.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const report = await api.operation(cluster, operationId);
      if (report.outcome !== 'running') return report;
      lastError = `still running at step "${report.currentStep ?? '?'}"`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (performance.now() > deadline) throw new Error(`failover ${operationId} did not end within ${Math.round(timeoutMs / 1000)} s (${lastError})`);
    await sleep(100);
  }
}
