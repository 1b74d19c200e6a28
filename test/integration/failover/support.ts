import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withClient } from '../../../src/adapters/postgres/connect';
import { inspectNode } from '../../../src/adapters/postgres/inspect';
import { HealthState, monitorInstanceId, rejoinInstanceId } from '../../../src/domain/health';
import { isStreaming, NodeInspection } from '../../../src/domain/node-state';
import { OperationReport } from '../../../src/domain/operation';
import { Lab } from '../../../harness/lab/lab';
import { NODE_AGENT_PORT } from '../../../harness/lab/node-agents';
import type { LatencyOption } from '../../../harness/local/azure-emulator';
import { LocalStack, startLocalStack } from '../../../harness/local/stack';
import { AcknowledgedCommit, findLostCommits } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import type { RejoinReport } from '../../../orchestrations/cluster-monitor-rejoin';
import { testLabOptions } from '../../support/lab';
import { TEST_FUNCTION_KEY } from '../../support/stack';
import { waitForOperation } from '../../support/operations';

export { api } from '../../support/stack';
export { waitForOperation };

/**
 * Chaos tests of the health check and unplanned failover: the lab, local Azure and the local
 * runtime, with health checks driven one at a time (runtime.invokeTimer('healthCheck')) so the
 * number of checks to a failover is exact, and every wait a wait on a condition.
 */
export async function startFailoverStack(
  block: string,
  options: { policy?: Record<string, unknown>; synchronousStandbyNames?: string; loadBalancing?: 'pools' | 'probe'; agentSteps?: boolean; latency?: LatencyOption; scheduleTimers?: boolean } = {},
): Promise<LocalStack> {
  const lab = { ...testLabOptions(block), ...(options.synchronousStandbyNames ? { synchronousStandbyNames: options.synchronousStandbyNames } : {}) };
  return startLocalStack({
    stateDir: mkdtempSync(join(tmpdir(), 'pgfo-stack-')),
    lab,
    listen: { host: `127.${block}.1`, port: 7071 },
    functionKey: TEST_FUNCTION_KEY,
    ...(options.loadBalancing ? { loadBalancing: options.loadBalancing } : {}),
    ...(options.agentSteps === undefined ? {} : { agentSteps: options.agentSteps }),
    ...(options.latency ? { latency: options.latency } : {}),
    ...(options.scheduleTimers ? { scheduleTimers: true } : {}),
    // Tests choose the fence explicitly (kill-primary powers off); the rest stop PostgreSQL over Run Command.
    policy: { catchupTimeoutSeconds: 30, fenceByPowerOff: false, ...options.policy },
    log: () => undefined,
  }).catch(async (error) => {
    await Lab.down(lab);
    throw error;
  });
}

/** The cluster monitor's published state (its custom status). */
export function healthState(stack: LocalStack): HealthState | undefined {
  const instance = stack.runtime.getInstance(monitorInstanceId(stack.cluster.name));
  return instance?.customStatus ? (JSON.parse(instance.customStatus) as HealthState) : undefined;
}

/** One health check: fire the timer, then wait until the monitor has taken its observation in (and acted on it). */
export async function check(stack: LocalStack): Promise<HealthState> {
  const before = healthState(stack)?.observations ?? 0;
  await stack.runtime.invokeTimer('healthCheck');
  const instance = await stack.runtime.waitForInstance(monitorInstanceId(stack.cluster.name), {
    timeoutMs: 120_000,
    until: (state) => !!state?.customStatus && (JSON.parse(state.customStatus) as HealthState).observations > before,
  });
  return JSON.parse(instance.customStatus!) as HealthState;
}

/** Checks until `done` holds for the monitor's state; returns every check's state. Fails after `maxChecks`. */
export async function checkUntil(stack: LocalStack, done: (state: HealthState) => boolean, maxChecks: number): Promise<HealthState[]> {
  const states: HealthState[] = [];
  while (states.length < maxChecks) {
    const state = await check(stack);
    states.push(state);
    if (done(state)) return states;
  }
  throw new Error(`not done after ${maxChecks} checks; verdicts: ${states.map((s) => s.lastCheck?.verdict).join(', ')}; last: ${JSON.stringify(states.at(-1)?.lastCheck)}`);
}

/** Whether any switchover or failover was ever started on the stack. */
export const operationStarted = (stack: LocalStack): boolean => stack.runtime.listInstances().some((i) => i.name === 'switchover' || i.name === 'failover');

/** The failover the health check started: waits for it to end and returns its report. */
export async function automaticFailoverReport(stack: LocalStack, state: HealthState): Promise<OperationReport> {
  const operationId = state.lastOperation?.operationId;
  if (!operationId || !state.lastOperation?.started) throw new Error(`the health check did not start a failover: ${JSON.stringify(state.lastAction)}`);
  return waitForOperation(stack, operationId);
}

/** Waits for the rejoin the health check started for `node`, and returns its report. */
export async function rejoinReport(stack: LocalStack, node: string): Promise<RejoinReport> {
  const instance = await stack.runtime.waitForInstance(rejoinInstanceId(stack.cluster.name, node), { timeoutMs: 300_000 });
  if (instance.runtimeStatus !== 'Completed') throw new Error(`rejoin of ${node} ${instance.runtimeStatus}: ${instance.output}`);
  return JSON.parse(instance.output!) as RejoinReport;
}

export const inspect = (stack: LocalStack, node: string): Promise<NodeInspection> =>
  inspectNode(node, stack.lab.adminEndpoint(node), { connectTimeoutMs: 1000, statementTimeoutMs: 2000 });

/** Until none of `nodes` reports a streaming WAL receiver (they noticed their primary is gone). */
export async function waitUntilNotStreaming(stack: LocalStack, nodes: string[]): Promise<void> {
  await waitFor(`${nodes.join(', ')} to stop streaming`, async () => (await Promise.all(nodes.map((n) => inspect(stack, n)))).every((n) => n.reachable && !isStreaming(n)), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}

/** Probe mode, the lab load balancer's own view: `node` alone is probed up for the write rule (true), else undefined (for waitFor). */
export async function probedUpForWrites(stack: LocalStack, node: string): Promise<true | undefined> {
  const probes = (await stack.lab.status()).ilb.probes!;
  return Object.entries(probes.write).filter(([, state]) => state.up).map(([name]) => name).join() === node || undefined;
}

/** One probe as the load balancer sends it to a node's agent: a fresh connection, 200 or not. */
export function primaryProbe(host: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = request({ host, port: NODE_AGENT_PORT, path: '/primary', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Probe mode (S2): asks every agent's /primary, round after round, until stopped; the rounds where more than one said 200. */
export function watchPrimaryProbes(stack: LocalStack, nodes: string[]): { stop: () => Promise<{ rounds: number; doubled: string[][] }> } {
  const hosts = nodes.map((name) => stack.cluster.nodes.find((n) => n.name === name)!.host);
  let running = true;
  let rounds = 0;
  const doubled: string[][] = [];
  const loop = (async () => {
    while (running) {
      const answers = await Promise.all(hosts.map(primaryProbe));
      const writers = nodes.filter((_, i) => answers[i]);
      if (writers.length > 1) doubled.push(writers);
      rounds += 1;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { rounds, doubled };
    },
  };
}

/** Until `node` answers as a writable primary. */
export async function waitUntilPrimary(stack: LocalStack, node: string): Promise<void> {
  await waitFor(`${node} to answer as a primary`, async () => {
    const n = await inspect(stack, node);
    return n.reachable && n.role === 'primary';
  }, { timeoutMs: 60_000, intervalMs: 100 });
}

/** Runs SQL as the admin role on one node. */
export async function sql(stack: LocalStack, node: string, text: string): Promise<void> {
  await withClient(stack.lab.adminEndpoint(node), async (client) => {
    await client.query(text);
  });
}

/** The postmaster and all its children (backends, WAL senders, background processes). */
function serverProcesses(stack: LocalStack, node: string): number[] {
  const postmaster = stack.lab.server(node).postmasterPid();
  if (!postmaster) throw new Error(`${node} has no postmaster`);
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => pid > 0);
  return [postmaster, ...children];
}

/** Freezes a node's PostgreSQL (SIGSTOP to the postmaster, then every child): a VM that hangs. Returns a thaw function. */
export function freeze(stack: LocalStack, node: string): () => void {
  const pids = serverProcesses(stack, node);
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  return () => {
    for (const pid of [...pids].reverse()) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* exited meanwhile */
      }
    }
  };
}

/** Rewrites a node's pg_hba.conf and reloads it (SIGHUP), returning the function that puts the old one back. */
export function editHba(stack: LocalStack, node: string, edit: (rules: string) => string): () => void {
  const file = join(stack.lab.server(node).node.dataDir, 'pg_hba.conf');
  const original = readFileSync(file, 'utf8');
  const reload = () => process.kill(stack.lab.server(node).postmasterPid()!, 'SIGHUP');
  writeFileSync(file, edit(original));
  reload();
  return () => {
    writeFileSync(file, original);
    reload();
  };
}

/** Acknowledged commits split at the first one the new primary took (docs/invariants.md S2: none from anywhere else after it). */
export function splitAtNewPrimary(acknowledged: AcknowledgedCommit[], newPrimaryHost: string) {
  const first = acknowledged.findIndex((c) => c.server === newPrimaryHost);
  return { before: first < 0 ? acknowledged : acknowledged.slice(0, first), after: first < 0 ? [] : acknowledged.slice(first) };
}

/**
 * After a failover of a dead primary, counted row by row: only the last commits the old primary
 * acknowledged before it died may be missing, and once the new primary took one, every later one
 * is the new primary's (S2). Returns the ids of the lost commits.
 */
export async function expectOnlyTheOldPrimarysLastCommitsLost(stack: LocalStack, acknowledged: AcknowledgedCommit[], newPrimaryHost: string): Promise<number[]> {
  const lost = await findLostCommits(stack.lab.appEndpoint('write'), acknowledged);
  const { before, after } = splitAtNewPrimary(acknowledged, newPrimaryHost);
  expect(after.length).toBeGreaterThan(0);
  expect(after.every((c) => c.server === newPrimaryHost)).toBe(true);
  expect(lost).toEqual(before.slice(before.length - lost.length).map((c) => c.id));
  return lost;
}

/** How many checks, and which verdicts, a run of checks went through. */
export const verdicts = (states: HealthState[]) => states.map((s) => s.lastCheck?.verdict);

/** How long an operation ran: from its first step's start to its last step's end. */
export function operationMs(report: OperationReport): number {
  const first = report.steps[0];
  const last = report.steps[report.steps.length - 1];
  return Date.parse(last.startedAt) + (last.durationMs ?? 0) - Date.parse(first.startedAt);
}
