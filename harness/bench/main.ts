import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { BenchOptions, DEFAULT_BLOCKS, DEFAULT_LOAD_BALANCING, DEFAULTS, failoverPromoteMethod, LOAD_BALANCING, QUICK, RawFlags, resolveOptions } from './options';
import { planBench, BenchPlan } from './plan';
import { Environment, EnvironmentUnavailable, RunResult, Scenario } from './scenario';
import { compare, scenarioResult, ScenarioResult } from './results';
import { loadAverageNow, machineInfo } from './machine';
import { renderMachine, renderPending, renderRuns, renderSteps, renderSummary } from './render';
import { DETECTION, describeOurDetection, describePatroniTiming, expectationLines } from './detection';
import { FAILOVER_FENCE_BY_POWER_OFF } from './plan';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const RESULTS_DIR = join(__dirname, 'results');

/** The write load every tool is measured with (harness/load/write-load.ts). */
const LOAD_DESCRIPTION = [
  'one client, autocommit INSERT one row at a time through the write frontend (ours: the lab ILB write frontend; Patroni: HAProxy),',
  'reconnecting at once after any error (10 ms pause so a refused connection does not spin), connect timeout 2 s, statement timeout 5 s;',
  'write outage = longest gap between two acknowledged commits; lost commits = acknowledged rows missing on the primary afterwards, checked row by row.',
];

interface EnvironmentRecord {
  name: string;
  describe: string[];
  settings: Record<string, unknown>;
}

/** Tears down whatever environment is up, once, also on Ctrl-C. */
class Teardown {
  private active: Environment | undefined;
  private stopping: Promise<void> | undefined;

  set(environment: Environment | undefined): void {
    this.active = environment;
  }

  async run(): Promise<void> {
    const environment = this.active;
    this.active = undefined;
    if (!environment) return;
    this.stopping = environment.down().catch((error: Error) => say(`  cleanup of ${environment.name} failed: ${error.message}`));
    await this.stopping;
  }

  install(): () => void {
    let interrupted = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) return;
      interrupted = true;
      say(`\n${signal}: stopping every process the benchmark started and removing its directories…`);
      const bound = setTimeout(() => process.exit(130), 90_000);
      void Promise.all([this.run(), this.stopping]).finally(() => {
        clearTimeout(bound);
        process.exit(130);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }
}

async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
  say(`  ${scenario.label}: ${scenario.runs} run${scenario.runs === 1 ? '' : 's'}`);
  const runs: RunResult[] = [];
  for (let run = 1; run <= scenario.runs; run++) {
    try {
      runs.push(await scenario.runOnce(run, say));
    } catch (error) {
      const reason = (error as Error).message.split('\n')[0];
      say(`    run ${run}: ERROR ${reason}`);
      const anyDone = runs.some((r) => r.outcome === 'completed');
      // The environment may be broken now: no more runs on it.
      return scenarioResult(scenario, scenario.environment.name, runs, anyDone ? 'partial' : 'failed', `run ${run}: ${reason}`);
    }
  }
  const notCompleted = runs.filter((r) => r.outcome !== 'completed');
  const status = notCompleted.length === 0 ? 'measured' : notCompleted.length === runs.length ? 'failed' : 'partial';
  const reason = notCompleted.length ? `${notCompleted.length} of ${runs.length} run(s) did not complete: ${notCompleted.map((r) => `run ${r.run}: ${r.outcome}${r.reason ? ` (${r.reason.split('\n')[0].slice(0, 200)})` : ''}`).join('; ')}` : undefined;
  return scenarioResult(scenario, scenario.environment.name, runs, status, reason);
}

/** Runs the plan: scenarios sharing an environment run back to back on it; every environment comes down after its scenarios. */
async function runPlan(plan: BenchPlan, teardown: Teardown): Promise<{ results: ScenarioResult[]; environments: EnvironmentRecord[] }> {
  const results: ScenarioResult[] = [];
  const environments: EnvironmentRecord[] = [];
  for (let i = 0; i < plan.scenarios.length; ) {
    const environment = plan.scenarios[i].environment;
    const group: Scenario[] = [];
    while (i < plan.scenarios.length && plan.scenarios[i].environment === environment) group.push(plan.scenarios[i++]);
    say(`\n${environment.name}`);
    teardown.set(environment);
    try {
      const started = performance.now();
      let unavailable: string | undefined;
      try {
        await environment.up(say);
        say(`  up in ${Math.round(performance.now() - started)} ms`);
      } catch (error) {
        unavailable = error instanceof EnvironmentUnavailable ? error.message : `could not be started: ${(error as Error).message}`;
        say(`  NOT MEASURED: ${unavailable}`);
      }
      environments.push({ name: environment.name, describe: environment.describe(), settings: environment.settings() });
      for (const scenario of group) {
        results.push(unavailable ? scenarioResult(scenario, environment.name, [], 'unavailable', unavailable) : await runScenario(scenario));
      }
    } finally {
      say('  tearing down');
      await teardown.run();
    }
  }
  return { results, environments };
}

function printSettings(options: BenchOptions, plan: BenchPlan): void {
  say('Settings');
  say(`  runs: ${plan.scenarios.map((s) => `${s.id} ×${s.runs}`).join(', ')}`);
  say(`    (defaults: ${DEFAULTS.runs} zero-latency runs per promotion path and ${DEFAULTS.runs} Patroni switchovers (--runs N); ${DEFAULTS.realisticRuns} realistic-latency run per promotion path, ` +
    `because each takes ~1-2 min (--realistic-runs N); ${DEFAULTS.failoverRuns} kill -9 failover per tool and detection variant, ~1 min each (--failover-runs N); ` +
    `${DEFAULTS.realisticFailoverRuns} realistic-latency failovers of ours (--realistic-failover-runs N); --quick: ${QUICK.runs}/${QUICK.realisticRuns}/${QUICK.failoverRuns}/${QUICK.realisticFailoverRuns})`);
  say(`  promotion paths: ${options.methods.join(', ')}; Azure latency profiles: ${options.profiles.join(', ')}; load balancing: ${options.loadBalancing.join(', ')}; Durable backend: ${options.durableBackend}; ours: ${options.ours ? 'on' : 'off'}; peer: ${options.peer ? 'Patroni' : 'off'}`);
  if (options.loadBalancing.includes('probe')) {
    say('  probe load balancing: every node in both pools, the lab load balancer follows the node agents\' probes (zero profile every 300 ms, realistic every 5 s as Azure\'s minimum);');
    say('    the writer is the node the write lease names, granted over SQL after promotion; the health check grants the first lease and renews it on its schedule (also during switchovers)');
  }
  say(`  write load: ${options.commits} acknowledged commits before and after each operation; ${LOAD_DESCRIPTION.join(' ')}`);
  if (plan.scenarios.some((s) => s.kind === 'failover')) {
    say(`  unplanned failover: kill -9 of the primary under the write load; detection variants: ${options.detection.join(', ')}; ours promotes with ${failoverPromoteMethod(options)}, fenceByPowerOff ${FAILOVER_FENCE_BY_POWER_OFF}`);
    for (const name of options.detection) {
      const d = DETECTION[name];
      say(`    ${name}: ours ${describeOurDetection(d.ours)}; Patroni ${describePatroniTiming(d.patroni)}`);
    }
  }
  say(
    `  addresses: ours 127.${options.blocks.ours}.x, Patroni 127.${options.blocks.peer}.x, Patroni with the fast timing 127.${options.blocks.peerFast}.x (loopback only)` +
      `${plan.pending.length ? `; pending: ${plan.pending.map((p) => `${p.id} (${p.reason})`).join(', ')}` : ''}`,
  );
}

async function bench(options: BenchOptions): Promise<number> {
  const startedAt = new Date();
  const started = performance.now();
  const loadAtStart = loadAverageNow();
  const plan = planBench(options);
  printSettings(options, plan);
  if (plan.scenarios.length === 0) throw new Error('nothing to run: every scenario was turned off by the flags');

  const teardown = new Teardown();
  const uninstall = teardown.install();
  let outcome: Awaited<ReturnType<typeof runPlan>>;
  try {
    outcome = await runPlan(plan, teardown);
  } finally {
    await teardown.run();
    uninstall();
  }
  const { results, environments } = outcome;
  const comparisons = compare(results);
  const machine = await machineInfo(loadAtStart);
  const wallClockMs = Math.round(performance.now() - started);

  say('\n══ Results ══ (nothing here is asserted; other processes on this machine add noise)');
  say(renderMachine(machine));
  say('\nSettings in force');
  for (const environment of environments) {
    say(`  ${environment.name}`);
    for (const line of environment.describe) say(`    ${line}`);
  }
  const kinds = (['switchover', 'failover'] as const).filter((kind) => results.some((r) => r.kind === kind));
  for (const kind of kinds) {
    const title = kind === 'switchover' ? 'Planned switchover' : 'Unplanned failover (kill -9 of the primary)';
    say(`\n${title}: every run`);
    say(renderRuns(results, kind));
    say(`\n${title}: median / max, ratio ours/Patroni (below 1: ours is shorter)${kind === 'failover' ? ', each against Patroni with the same detection variant' : ''}`);
    say(renderSummary(results, comparisons, kind));
    for (const line of renderPending(plan.pending, kind)) say(line);
    if (kind === 'failover') {
      say('Detection settings (comparable pairs; both sides of a ratio ran with the same variant):');
      for (const name of options.detection) {
        const d = DETECTION[name];
        say(`  ${name}: ${d.rationale}`);
        for (const line of expectationLines(d)) say(`    expected from the settings (a model, not a measurement): ${line}`);
      }
      say('First write = the first commit the new primary acknowledged after the kill; total = the failover (ours: until the operation ended, after the other standby follows;');
      say("Patroni: until the new leader is writable) plus the rejoin (restart of the killed node until it streams from the new primary; ours: the health check fences it, then pg_rewind).");
      for (const line of plan.failoverNotes) say(line);
    }
    if (kind === 'switchover' && results.some((r) => r.tool === 'patroni' && r.summary.writeOutageMs.n > 0)) {
      say('Patroni needs no Azure control-plane call to switch over (its front follows its REST health check); on Azure VMs that front is the load balancer\'s probe (5 s):');
      say('our "realistic" rows project ours on Azure (emulated Azure latencies above) and are compared with Patroni behind a front probing like it; our "zero" rows show the runbook alone,');
      say('compared with Patroni behind HAProxy as Patroni documents it. Ratio = ours / Patroni of the same statistic.');
    }
    if (results.some((r) => r.kind === kind && r.summary.steps.length > 0)) {
      say(`\n${title}: steps (median / max)`);
      say(renderSteps(results, kind));
    }
  }
  for (const result of results.filter((r) => r.status !== 'measured')) say(`${result.label}: ${result.status.toUpperCase()} — ${result.reason ?? ''}`);
  say(`\nbench took ${(wallClockMs / 1000).toFixed(0)} s`);

  if (options.json) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    const document = {
      benchmark: 'azure-pg-failover npm run bench',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      wallClockMs,
      machine,
      settings: { options, load: { ...plan.load, description: LOAD_DESCRIPTION.join(' ') }, environments, defaults: DEFAULTS, quick: QUICK },
      scenarios: results,
      pending: plan.pending,
      comparisons,
    };
    writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
    say(`full results: ${relative(process.cwd(), file)}`);
  }
  const lostAny = results.some((r) => r.tool === 'ours' && r.kind === 'switchover' && (r.summary.lostCommits.total ?? 0) > 0);
  const ourFailures = results.some((r) => r.tool === 'ours' && r.status !== 'measured');
  return lostAny || ourFailures ? 1 : 0;
}

new Command('bench')
  .description(
    'planned switchovers and kill -9 failovers under a continuous write load: ours (SQL and Run Command promotion, zero and realistic Azure latency, ' +
      'the health check on its real schedule) and Patroni + HAProxy on an identical cluster, same machine, same run; median/max outage, lost commits, durations, ratios',
  )
  .option('--runs <n>', `our zero-latency switchovers per promotion path, and Patroni switchovers (default ${DEFAULTS.runs})`)
  .option('--realistic-runs <n>', `our realistic-latency switchovers per promotion path, ~1-2 min each (default ${DEFAULTS.realisticRuns})`)
  .option('--failover-runs <n>', `kill -9 failovers per tool and detection variant (ours zero latency, Patroni), ~1 min each (default ${DEFAULTS.failoverRuns})`)
  .option('--realistic-failover-runs <n>', `our kill -9 failovers per detection variant with the realistic Azure latency, minutes each (default ${DEFAULTS.realisticFailoverRuns})`)
  .option('--detection <list>', 'failover detection variants: standard,fast (default both; see harness/bench/detection.ts)')
  .option('--methods <list>', 'promotion paths: sql,runCommand (default both)')
  .option('--profiles <list>', 'Azure latency profiles: zero,realistic (default both)')
  .option('--load-balancing <list>', `how our load balancer picks the writer: ${LOAD_BALANCING.join(',')} (default ${DEFAULT_LOAD_BALANCING.join(',')}; probe: node agents answer HTTP probes by the write lease, docs/design.md §9)`)
  .option('--arm <list>', 'ARM as our probe-mode stacks see it: available,unavailable (default available; unavailable: switchovers with every ARM request answered 503, kill -9 failovers with every ARM request unanswered)')
  .option('--fault <list>', 'what the failovers do to the primary: kill,vanish (default kill: kill -9 of PostgreSQL on a VM that stays up; vanish: its VM goes silent and everything on it dies, as when its host fails)')
  .option('--durable-backend <name>', 'Durable backend the realistic runs model (main.bicep durableBackend): dts (default, the Bicep default) or azure-storage')
  .option('--quick', `a quick look: --runs ${QUICK.runs} --realistic-runs ${QUICK.realisticRuns} --failover-runs ${QUICK.failoverRuns} --realistic-failover-runs ${QUICK.realisticFailoverRuns} unless given`)
  .option('--no-ours', 'skip our scenarios')
  .option('--no-peer', 'skip Patroni')
  .option('--no-install', 'do not apt-get install Patroni/HAProxy when missing (then Patroni is reported as not measured)')
  .option('--blocks <list>', `loopback blocks a.b (127.a.b.x) for ours, Patroni and Patroni with the fast timing (default ${Object.values(DEFAULT_BLOCKS).join(',')})`)
  .option('--commits <n>', `acknowledged commits before and after each operation (default ${DEFAULTS.commits})`)
  .option('--json', 'also write every result, setting and version to bench/results/<timestamp>.json')
  .action(async (flags: RawFlags) => {
    process.exitCode = await bench(resolveOptions(flags));
  })
  .parseAsync(process.argv)
  .catch((error: Error) => {
    process.stderr.write(`bench failed: ${error.message}\n`);
    process.exitCode = 2;
  });
