import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalStack, LocalStack } from '../local/stack';
import { describeLatency, resolveLatency } from '../local/azure-emulator/latency';
import { AZURE_SETTING_NAMES } from '../adapters/azure';
import { FailoverApiClient } from '../cli/api-client';
import { OperationReport } from '../domain/operation';
import { Lab } from '../lab/lab';
import { appConfig } from '../app/services';
import { Environment, RunResult, Scenario } from './scenario';
import { LoadSettings, measureUnderLoad, outageWindow, stepRole } from './measure';

export type LatencyName = 'zero' | 'realistic';
export type PromoteMethod = 'sql' | 'runCommand';

/** Bounds for one of our switchovers: the zero profile takes seconds, the realistic one a minute or two. */
const OPERATION_TIMEOUT_MS: Record<LatencyName, number> = { zero: 180_000, realistic: 900_000 };

/**
 * Our side: the real app on the local stack (lab + local Azure + local Functions runtime), one
 * stack per promotion path and latency profile, its nodes on 127.<block>.x.
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
  ) {
    this.name = `ours (promote ${promoteMethod}, ${latency} Azure latency)`;
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
    const stateDir = mkdtempSync(join(tmpdir(), 'pgfo-bench-stack-'));
    // Its own directory: under root the lab's servers run as postgres, which must reach it.
    const labDir = mkdtempSync(join(tmpdir(), 'pgfo-bench-lab-'));
    this.dirs = [stateDir, labDir];
    const lab = { stateDir: labDir, addressBlock: this.addressBlock };
    this.labOptions = lab;
    say(`  starting our stack: 3-node lab on 127.${this.addressBlock}.11-13, local Azure (${this.latency} latency), local Functions runtime (promoteMethod ${this.promoteMethod})`);
    try {
      this.stack = await startLocalStack({
        stateDir,
        lab,
        latency: this.latency,
        policy: { promoteMethod: this.promoteMethod },
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
    const promoteMethod = appConfig().clusters[0]?.policy.promoteMethod;
    if (promoteMethod !== this.promoteMethod) throw new Error(`the app runs with promoteMethod ${String(promoteMethod)}, not ${this.promoteMethod}`);
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
    return [
      `promoteMethod ${this.promoteMethod}; policy pollIntervalMs ${policy?.pollIntervalMs ?? '?'}, catchupTimeoutSeconds ${policy?.catchupTimeoutSeconds ?? '?'}; ARM polling every ${process.env[AZURE_SETTING_NAMES.pollIntervalMs] ?? '?'} ms unless Azure sends Retry-After`,
      `Azure latency profile "${this.latency}"${this.latency === 'zero' ? ': every Azure operation completes at once (still 202 + polling)' : ' (assumptions from field reports, not measurements):'}`,
      ...(this.latency === 'zero' ? [] : describeLatency(profile).map((line) => `  ${line}`)),
    ];
  }

  settings(): Record<string, unknown> {
    return {
      promoteMethod: this.promoteMethod,
      latencyProfile: this.latency,
      latency: resolveLatency(this.latency),
      latencyAssumptions: describeLatency(resolveLatency(this.latency)),
      policy: this.stack?.cluster.policy,
      armPollIntervalMs: process.env[AZURE_SETTING_NAMES.pollIntervalMs],
      addressBlock: this.addressBlock,
      loadBalancer: 'the lab TCP load balancer playing the Azure ILB write frontend',
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
    const { promoteMethod, latency } = environment;
    this.id = `ours/switchover/${promoteMethod}/${latency}`;
    this.label = `ours, ${promoteMethod === 'sql' ? 'SQL' : 'Run Command'} promote, ${latency === 'zero' ? 'zero latency' : 'realistic (Azure projection)'}`;
    this.variant = { promoteMethod, latency };
  }

  async runOnce(run: number, say: (line: string) => void): Promise<RunResult> {
    const stack = this.environment.current;
    const nodes = stack.cluster.nodes.map((n) => n.name);
    const before = await stack.lab.waitUntilHealthy(60_000);
    const from = before.nodes.find((n) => n.role === 'primary')!.name;
    const to = nodes[(nodes.indexOf(from) + 1) % nodes.length];
    const api = this.environment.api();
    const timeoutMs = OPERATION_TIMEOUT_MS[this.environment.latency];

    const measured = await measureUnderLoad(stack.lab.appEndpoint('write'), this.load, async () => {
      const started = performance.now();
      const { status, body } = await api.request('POST', `clusters/${stack.cluster.name}/switchover`, { target: to });
      if (status !== 202) throw new Error(`the switchover was refused (${status}): ${String(body.detail ?? JSON.stringify(body))}`);
      const operationId = String(body.operationId);
      const report = await waitForOperation(api, stack.cluster.name, operationId, timeoutMs);
      return { report, durationMs: performance.now() - started };
    });
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
      writeOutageMs: measured.writes.writeOutageMs,
      outageWindow: outageWindow(measured.writes, measured.startedAt),
      acknowledgedCommits: measured.writes.acknowledged.length,
      lostCommits: measured.lost?.length ?? null,
      lostCommitIds: (measured.lost ?? []).slice(0, 100),
      failedAttempts: measured.writes.failedAttempts,
      commitsElsewhereAfterNewPrimary: measured.commitsElsewhereAfterNewPrimary,
      totalDurationMs: Math.round(durationMs),
      steps: report.steps.map((s) => ({ name: stepRole(s.name, roles), durationMs: s.durationMs ?? null, result: s.result })),
      details: {
        operationId: report.operationId,
        rejoinMethod: report.rejoinMethod ?? null,
        problems: report.problems,
        ...(measured.lostCheckError ? { lostCheckError: measured.lostCheckError } : {}),
      },
    };
    say(`    run ${run}: ${result.from} → ${result.to} ${result.outcome}, write outage ${result.writeOutageMs} ms, lost ${result.lostCommits ?? '?'}, total ${result.totalDurationMs} ms`);
    return result;
  }
}

/** Polls the operation through the API (100 ms, finer than the CLI's 250 ms) until it ends or the bound passes. */
async function waitForOperation(api: FailoverApiClient, cluster: string, operationId: string, timeoutMs: number): Promise<OperationReport> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const report = await api.operation(cluster, operationId);
    if (report.outcome !== 'running') return report;
    if (performance.now() > deadline) throw new Error(`switchover ${operationId} still running after ${Math.round(timeoutMs / 1000)} s (at step "${report.currentStep ?? '?'}")`);
    await sleep(100);
  }
}
