import { randomBytes } from 'node:crypto';
import type { DurableClient, DurableOrchestrationStatus, OrchestrationRuntimeStatus } from 'durable-functions';
import { CLUSTER_OPERATION, OperationInput, OperationKind, OperationReport, operationGateId } from '../domain/operation';

export type StartResult = { started: true; operationId: string } | { started: false; running: { operationId: string; kind: OperationKind } };

const ACTIVE = new Set(['Running', 'Pending', 'ContinuedAsNew', 'Suspended']);
const isActive = (status: DurableOrchestrationStatus | undefined) => !!status && ACTIVE.has(String(status.runtimeStatus));

export function newOperationId(cluster: string, kind: OperationKind, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${cluster}-${kind}-${stamp}-${randomBytes(3).toString('hex')}`;
}

async function statusOf(client: DurableClient, instanceId: string): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: true });
  } catch {
    return undefined; // the SDK throws for an instance id it has never seen
  }
}

type Running = { operationId: string; kind: OperationKind };

/**
 * The operation running for the cluster: the gate's, or the one a gate that was terminated (or
 * failed) had started. Terminating an orchestration does not terminate its sub-orchestrations
 * (docs/azure-platform.md item 2), so such an operation may still be running without its gate.
 * A gate that completed has seen its operation end; only the other endings need the extra look.
 */
async function runningOperation(client: DurableClient, cluster: string): Promise<Running | undefined> {
  const gate = await statusOf(client, operationGateId(cluster));
  if (!gate) return undefined;
  const { operationId, kind } = (gate.input ?? {}) as OperationInput<unknown>;
  if (isActive(gate)) return { operationId, kind };
  if (!operationId || String(gate.runtimeStatus) === 'Completed') return undefined;
  return isActive(await statusOf(client, operationId)) ? { operationId, kind } : undefined;
}

const OPERATION_KINDS: readonly string[] = ['switchover', 'failover'] satisfies OperationKind[];

/**
 * Any switchover or failover of the cluster still running, found by listing the running instances
 * (operation ids are "<cluster>-<kind>-…", and the orchestration is named after the kind) and
 * confirmed from its input. Catches an operation whose gate is gone altogether (terminated, then
 * purged or replaced). The JS client cannot filter by instance id prefix, so it lists every
 * running instance of the task hub: used only before starting an operation.
 */
async function anyRunningOperation(client: DurableClient, cluster: string): Promise<Running | undefined> {
  const running = await client.getStatusBy({ runtimeStatus: [...ACTIVE].map((s) => s as OrchestrationRuntimeStatus) });
  const candidates = running.filter((s) => OPERATION_KINDS.includes(s.name) && s.instanceId.startsWith(`${cluster}-${s.name}-`));
  for (const candidate of candidates) {
    const status = await statusOf(client, candidate.instanceId);
    const input = status?.input as Partial<OperationInput<unknown>> | undefined;
    if (isActive(status) && input?.cluster?.name === cluster) return { operationId: candidate.instanceId, kind: candidate.name as OperationKind };
  }
  return undefined;
}

/**
 * A gate that completed has seen its operation end, so the costly listing (every running instance
 * of the task hub) runs only when the gate is missing or ended otherwise. It is a second line
 * behind the gate's id: a listing that fails does not stop an operation (an automatic failover
 * above all).
 */
async function orphanedOperation(client: DurableClient, cluster: string): Promise<Running | undefined> {
  const gate = await statusOf(client, operationGateId(cluster));
  if (gate && String(gate.runtimeStatus) === 'Completed') return undefined;
  return anyRunningOperation(client, cluster).catch(() => undefined);
}

/**
 * Starts an operation through the cluster's single-flight gate (docs/invariants.md S5). The host
 * refuses a second instance under a running gate id, so of two racing triggers exactly one starts;
 * the other is told which operation is running. A switchover or failover of the cluster that still
 * runs without its gate (the gate was terminated: that does not end the operation) also refuses.
 */
export async function startOperation<Request>(client: DurableClient, input: OperationInput<Request>): Promise<StartResult> {
  const cluster = input.cluster.name;
  const running = (await runningOperation(client, cluster)) ?? (await orphanedOperation(client, cluster));
  if (running) return { started: false, running };
  try {
    await client.startNew(CLUSTER_OPERATION, { instanceId: operationGateId(cluster), input });
    return { started: true, operationId: input.operationId };
  } catch (error) {
    const winner = await runningOperation(client, cluster);
    if (winner) return { started: false, running: winner };
    throw error;
  }
}

/** An operation's live progress or final report; undefined when this cluster never had it. */
export async function readOperation(client: DurableClient, cluster: string, operationId: string): Promise<OperationReport | undefined> {
  if (!operationId.startsWith(`${cluster}-`)) return undefined;
  const status = await statusOf(client, operationId);
  if (!status) {
    // Started but not yet scheduled by its gate: it exists, it just has not begun.
    const running = await runningOperation(client, cluster);
    return running?.operationId === operationId ? { operationId, kind: running.kind, cluster, outcome: 'running', currentStep: 'queued', problems: [], steps: [] } : undefined;
  }
  const runtime = String(status.runtimeStatus);
  const progress = status.customStatus as OperationReport | undefined;
  if (runtime === 'Completed') return status.output as OperationReport;
  if (runtime === 'Failed' || runtime === 'Terminated') {
    const base = progress ?? { operationId, kind: (status.input as OperationInput<unknown>).kind, cluster, problems: [], steps: [] };
    return { ...base, outcome: 'failed', currentStep: undefined, reason: `the orchestration ${runtime.toLowerCase()}: ${String(status.output ?? 'no detail')}` };
  }
  return progress ?? { operationId, kind: (status.input as OperationInput<unknown>).kind, cluster, outcome: 'running', currentStep: 'starting', problems: [], steps: [] };
}

/** The operation the cluster's single-flight gate is running now, if any (whoever started it). */
export function currentOperation(client: DurableClient, cluster: string): Promise<{ operationId: string; kind: OperationKind } | undefined> {
  return runningOperation(client, cluster);
}
