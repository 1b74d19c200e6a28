import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { findPgBinDir } from '../../lab/pg-binaries';
import { waitFor } from '../../util/wait';
import { withClient } from '../../../src/adapters/postgres/connect';
import { Environment, EnvironmentUnavailable, RunResult, Scenario, StepTiming } from '../scenario';
import { LoadSettings, measureUnderLoad, writeFigures } from '../measure';
import { AZURE_PROBE_INTERVAL_MS, describePeerSettings, haproxySettings, PatroniDcs, patroniDcs, PatroniFront, SHARED_PG_PARAMETERS } from './config';
import { DETECTION, DetectionVariant, describePatroniTiming, killMoment, probePhase, shortPatroniTiming } from '../detection';
import { PatroniCluster } from './cluster';
import { ensurePeerTools } from './install';
import type { FailoverFault } from '../options';

/** The peer: Patroni + HAProxy on loopback (127.<block>.x), installed from Debian when missing; its DCS timing from a detection variant. */
export class PatroniEnvironment implements Environment {
  readonly name: string;
  readonly dcs: PatroniDcs;
  private cluster: PatroniCluster | undefined;
  installed: string[] = [];

  constructor(
    private readonly addressBlock: string,
    private readonly install: boolean,
    readonly detection: DetectionVariant = DETECTION.standard,
    readonly front: PatroniFront = 'haproxy',
  ) {
    this.dcs = patroniDcs(detection.patroni);
    this.name = `Patroni (Debian package, built-in Raft) + ${frontLabel(front)}${detection.name === 'standard' ? '' : `, ${detection.name} detection (${describePatroniTiming(detection.patroni)})`}`;
  }

  /** The latency profile our scenarios it is compared with ran in: Patroni makes no Azure call, but on Azure its front is the load balancer's probe. */
  get latency(): 'zero' | 'realistic' {
    return this.front === 'azure-ilb' ? 'realistic' : 'zero';
  }

  get current(): PatroniCluster {
    if (!this.cluster) throw new Error('the Patroni cluster is not up');
    return this.cluster;
  }

  async up(say: (line: string) => void): Promise<void> {
    const tools = await ensurePeerTools({ install: this.install, say });
    if (!tools.ok) throw new EnvironmentUnavailable(`Patroni is not available: ${tools.reason}`);
    this.installed = tools.installed;
    if (tools.installed.length) say(`  installed ${tools.installed.join(', ')} from Debian`);
    this.cluster = new PatroniCluster(tools.tools, this.addressBlock, findPgBinDir(), this.dcs, this.front);
    say(`  starting Patroni on 127.${this.addressBlock}.11-13 (PostgreSQL :5432, REST :8008, Raft :2222) and HAProxy on 127.${this.addressBlock}.1:5432 in ${this.cluster.layout.rootDir}`);
    try {
      await this.cluster.up();
    } catch (error) {
      throw new EnvironmentUnavailable(`Patroni could not be started: ${(error as Error).message}`);
    }
  }

  async down(): Promise<void> {
    const cluster = this.cluster;
    this.cluster = undefined;
    await cluster?.down();
  }

  /**
   * The Azure-like front, before run `run` of `runs`: HAProxy restarted at probePhase of its check
   * interval past a wall-clock multiple of it, as our probe-mode rows move the lab's probes
   * (harness/bench/detection.ts), so its checks do not keep one phase against Patroni's loop (or
   * the switchover's start) for every run. HAProxy staggers its servers' first checks across the
   * interval, so each server's phase is this one plus its own offset. Returns the phase for the
   * run's details; HAProxy as Patroni documents it is left alone.
   */
  async phaseFront(run: number, runs: number): Promise<{ probePhaseOfInterval?: number; probeIntervalMs?: number }> {
    if (this.front !== 'azure-ilb') return {};
    const phase = probePhase(run, runs);
    await this.current.restartFrontAt(killMoment(Date.now(), AZURE_PROBE_INTERVAL_MS / 1000, phase, 100));
    return { probePhaseOfInterval: phase, probeIntervalMs: AZURE_PROBE_INTERVAL_MS };
  }

  /** The Azure-like front: waits for the next wall-clock multiple of its check interval, where our probe-mode switchovers start too. */
  async atFrontInterval(): Promise<void> {
    if (this.front !== 'azure-ilb') return;
    const now = Date.now();
    await sleep(killMoment(now, AZURE_PROBE_INTERVAL_MS / 1000, 0, 100) - now);
  }

  describe(): string[] {
    return describePeerSettings(this.dcs, this.front);
  }

  settings(): Record<string, unknown> {
    return { detection: this.detection.name, dcs: { type: 'raft (pysyncobj)', ...this.dcs }, use_pg_rewind: true, use_slots: true, postgresParameters: SHARED_PG_PARAMETERS, front: this.front, haproxy: haproxySettings(this.front), addressBlock: this.addressBlock, installedNow: this.installed };
  }
}

const frontLabel = (front: PatroniFront): string => (front === 'azure-ilb' ? "HAProxy probing like Azure's load balancer (5 s)" : 'HAProxy');

const CONVERGE_TIMEOUT_MS = 180_000;

function result(
  run: number,
  from: string,
  to: string | null,
  measured: Awaited<ReturnType<typeof measureUnderLoad<unknown>>>,
  steps: StepTiming[],
  totalDurationMs: number | null,
  details: Record<string, unknown>,
  rejoinMs?: number,
): RunResult {
  return {
    run,
    from,
    to,
    outcome: 'completed',
    ...writeFigures(measured),
    totalDurationMs: totalDurationMs === null ? null : Math.round(totalDurationMs),
    firstCommitOnNewPrimaryMs: measured.firstCommitOnFinalMs,
    ...(rejoinMs === undefined ? {} : { rejoinMs: Math.round(rejoinMs) }),
    steps,
    details: { ...details, ...(measured.lostCheckError ? { lostCheckError: measured.lostCheckError } : {}) },
  };
}

/** `patronictl switchover --leader A --candidate B --force`, rotating A→B→C→A… like ours. */
export class PatroniSwitchoverScenario implements Scenario {
  readonly tool = 'patroni' as const;
  readonly kind = 'switchover' as const;
  readonly id: string;
  readonly label: string;
  readonly variant: Record<string, string>;

  constructor(
    readonly environment: PatroniEnvironment,
    readonly runs: number,
    private readonly load: LoadSettings,
  ) {
    const azure = environment.front === 'azure-ilb';
    this.id = `patroni/switchover${azure ? '/azure-ilb' : ''}`;
    this.label = `Patroni + ${frontLabel(environment.front)}`;
    this.variant = { latency: environment.latency };
  }

  async runOnce(run: number, say: (line: string) => void): Promise<RunResult> {
    const cluster = this.environment.current;
    const nodes = cluster.layout.nodes.map((n) => n.name);
    const from = await cluster.waitConverged(undefined, CONVERGE_TIMEOUT_MS, 'the Patroni cluster to be converged before the switchover');
    const to = nodes[(nodes.indexOf(from) + 1) % nodes.length];
    const front = await this.environment.phaseFront(run, this.runs);

    const measured = await measureUnderLoad(cluster.appEndpoint(), this.load, async () => {
      const started = performance.now();
      const output = await cluster.switchover(from, to);
      return { started, commandMs: performance.now() - started, output };
    }, { beforeStart: () => this.environment.atFrontInterval() });
    // The old leader rejoining as a replica is part of the operation (as our rejoin step is); the write load has stopped by now.
    const { started, commandMs } = measured.result;
    await cluster.waitConverged(to, CONVERGE_TIMEOUT_MS, `${from} to stream from ${to} after the switchover`);
    const totalMs = performance.now() - started;
    const steps: StepTiming[] = [
      { name: 'patronictl switchover (returns once <new> holds the leader key)', durationMs: Math.round(commandMs), result: 'ok' },
      { name: '<old> rejoins as a replica, all streaming from <new>', durationMs: Math.round(totalMs - commandMs), result: 'ok' },
    ];
    const r = result(run, from, to, measured, steps, totalMs, { patronictl: `patronictl -c ${cluster.layout.ctlConfigFile} switchover --leader ${from} --candidate ${to} --force`, ...front });
    say(`    run ${run}: ${from} → ${to} completed, write outage ${r.writeOutageMs} ms, lost ${r.lostCommits ?? '?'}, total ${r.totalDurationMs} ms`);
    return r;
  }
}

/**
 * Unplanned failover as a dying VM: SIGKILL to the leader's Patroni and postmaster together, then
 * the surviving members elect a new leader once the leader key's TTL expires. Afterwards the
 * killed node's Patroni is started again and rejoins (pg_rewind when needed).
 */
export class PatroniFailoverScenario implements Scenario {
  readonly tool = 'patroni' as const;
  readonly kind = 'failover' as const;
  readonly id: string;
  readonly label: string;
  readonly variant: Record<string, string>;
  readonly detection: string;

  constructor(
    readonly environment: PatroniEnvironment,
    readonly runs: number,
    private readonly load: LoadSettings,
    private readonly fault: FailoverFault = 'kill',
  ) {
    const name = environment.detection.name;
    this.id = `patroni/failover/${name}${fault === 'kill' ? '' : `/${fault}`}${environment.front === 'azure-ilb' ? '/azure-ilb' : ''}`;
    this.label = `Patroni + ${frontLabel(environment.front)}, ${fault === 'kill' ? 'kill -9 leader' : "leader's VM vanishes"}, ${name} detection`;
    this.variant = { detection: name, latency: environment.latency, ...(fault === 'kill' ? {} : { fault }) };
    this.detection = shortPatroniTiming(environment.detection.patroni);
  }

  async runOnce(run: number, say: (line: string) => void): Promise<RunResult> {
    const cluster = this.environment.current;
    const from = await cluster.waitConverged(undefined, CONVERGE_TIMEOUT_MS, 'the Patroni cluster to be converged before the failover');
    const logOffset = cluster.logOffset(from);
    const front = await this.environment.phaseFront(run, this.runs);

    const measured = await measureUnderLoad(cluster.appEndpoint(), { ...this.load, recoveryTimeoutMs: Math.max(this.load.recoveryTimeoutMs, 180_000) }, async () => {
      const started = performance.now();
      if (this.fault === 'vanish') cluster.vanishNode(from);
      else cluster.killNode(from);
      const to = await waitFor(
        'a new Patroni leader that accepts writes',
        async () => {
          const leader = await cluster.leader();
          if (!leader || leader === from) return false;
          const writable = await withClient(cluster.adminEndpoint(leader), async (c) => (await c.query<{ w: boolean }>('SELECT NOT pg_is_in_recovery() AS w')).rows[0].w, { connectTimeoutMs: 1000, statementTimeoutMs: 1000 });
          return writable ? leader : false;
        },
        { timeoutMs: 180_000, intervalMs: 100 },
      );
      return { started, to, electedMs: performance.now() - started };
    });
    const { started, to, electedMs } = measured.result;
    const restartAt = performance.now();
    cluster.startNode(from);
    await cluster.waitConverged(to, CONVERGE_TIMEOUT_MS, `${from} to rejoin and stream from ${to}`);
    const rejoinMs = performance.now() - restartAt;
    const rewound = /running pg_rewind from/.test(cluster.logSince(from, logOffset));
    const steps: StepTiming[] = [
      { name: `${this.fault === 'kill' ? 'kill -9 <old> (Patroni + postmaster)' : "<old>'s VM vanishes"} → <new> leader and writable (leader key TTL + election)`, durationMs: Math.round(electedMs), result: 'ok' },
      { name: `<old> restarted, rejoins${rewound ? ' (pg_rewind)' : ''}, all streaming from <new>`, durationMs: Math.round(rejoinMs), result: 'ok' },
    ];
    // Total: the two steps; the bench's own pause between them (finishing the write load, counting lost commits) is left out.
    const r = result(run, from, to, measured, steps, electedMs + rejoinMs, { rejoinUsedPgRewind: rewound, restartedAfterMs: Math.round(restartAt - started), ...front }, rejoinMs);
    say(`    run ${run}: ${this.fault === 'kill' ? 'kill -9' : 'vanish'} ${from} → ${to} elected, write outage ${r.writeOutageMs} ms, first write on ${to} ${r.firstCommitOnNewPrimaryMs ?? '?'} ms after the kill, lost ${r.lostCommits ?? '?'}, rejoin ${Math.round(rejoinMs)} ms${rewound ? ' (pg_rewind)' : ''}`);
    return r;
  }
}
