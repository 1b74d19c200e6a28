import { randomBytes } from 'node:crypto';
import * as df from 'durable-functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { OperationInput, OperationKind, OperationReport } from '../domain/operation';
import { CLAIM_STEP, ClusterOwner, CLUSTER_OWNERSHIP, OwnershipState } from '../domain/ownership';

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

/** Whether an operation still runs (an unknown id — never started, or purged — does not). */
export async function operationStatus(client: DurableClient, operationId: string): Promise<{ active: boolean; runtimeStatus: string | null }> {
  const status = await statusOf(client, operationId);
  return { active: isActive(status), runtimeStatus: status ? String(status.runtimeStatus) : null };
}

type Running = { operationId: string; kind: OperationKind };

/**
 * The operation that owns the cluster and still runs: the owner on record in the cluster's
 * ownership entity (orchestrations/cluster-ownership.ts), confirmed running. An owner that was
 * terminated (terminating never releases) does not hold the cluster: the next operation takes over.
 */
export async function currentOperation(client: DurableClient, cluster: string): Promise<Running | undefined> {
  const record = await client.readEntityState<OwnershipState>(new df.EntityId(CLUSTER_OWNERSHIP, cluster));
  const owner = record.entityExists ? record.entityState?.owner : undefined;
  if (!owner) return undefined;
  return (await operationStatus(client, owner.operationId)).active ? { operationId: owner.operationId, kind: owner.kind } : undefined;
}

/**
 * Starts an operation under its own id (docs/invariants.md S5). A cluster owned by a running
 * operation refuses at once. Otherwise the operation starts, and its first step claims the cluster
 * in the ownership entity, atomically: of two triggers that race past this check, one runs and the
 * other's operation ends "refused" having changed nothing. The caller waits (bounded) for that
 * claim, so it is told which one won; the id it gets names an operation that exists either way.
 */
export async function startOperation<Request>(client: DurableClient, input: OperationInput<Request>, claimWaitMs = CLAIM_WAIT_MS): Promise<StartResult> {
  const running = await currentOperation(client, input.cluster.name);
  if (running) return { started: false, running };
  try {
    await client.startNew(input.kind, { instanceId: input.operationId, input });
  } catch (error) {
    // The same operation id started twice (a trigger delivered twice): that operation is the answer.
    if ((await operationStatus(client, input.operationId)).active) return { started: false, running: { operationId: input.operationId, kind: input.kind } };
    throw error;
  }
  const owner = await claimOutcome(client, input.operationId, claimWaitMs);
  return owner ? { started: false, running: owner } : { started: true, operationId: input.operationId };
}

/** How long a trigger waits for its operation's claim: a few Durable dispatches on Azure. */
const CLAIM_WAIT_MS = 30_000;
const CLAIM_POLL_MS = 250;

/**
 * The owner that refused the operation's claim, or undefined once the claim was granted (or not
 * decided within the wait: the operation's own report then tells).
 */
async function claimOutcome(client: DurableClient, operationId: string, waitMs: number): Promise<Running | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const status = await statusOf(client, operationId);
    const report = (String(status?.runtimeStatus) === 'Completed' ? status?.output : status?.customStatus) as OperationReport | undefined;
    const claimed = report?.steps?.find((s) => s.name === CLAIM_STEP);
    if (claimed?.result === 'ok') {
      const detail = claimed.detail as { granted?: boolean; owner?: ClusterOwner } | undefined;
      return detail?.owner ? { operationId: detail.owner.operationId, kind: detail.owner.kind } : undefined;
    }
    if (claimed?.result === 'failed' || (status && !isActive(status)) || Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, CLAIM_POLL_MS));
  }
}

/** An operation as the Durable store holds it: its report, what started it and when. */
export interface OperationRecord {
  report: OperationReport;
  trigger: string;
  /** The instance's creation time as the store gives it (to the second). */
  startedAt: string;
}

/**
 * The operation an instance holds, when it is one of this cluster's: its input names the cluster
 * exactly (not a cluster whose name is a prefix of the id) and the instance's own id. The cluster
 * monitor, rejoins and entities have other inputs, so they are never taken for operations.
 */
export function operationRecord(status: DurableOrchestrationStatus | undefined, cluster: string): OperationRecord | undefined {
  const input = status?.input as OperationInput<unknown> | undefined;
  if (!status || input?.cluster?.name !== cluster || input.operationId !== status.instanceId) return undefined;
  const { operationId, kind } = input;
  const runtime = String(status.runtimeStatus);
  const progress = status.customStatus as OperationReport | undefined;
  const report = ((): OperationReport => {
    if (runtime === 'Completed') return status.output as OperationReport;
    if (runtime === 'Failed' || runtime === 'Terminated') {
      const base = progress ?? { operationId, kind, cluster, problems: [], steps: [] };
      return { ...base, outcome: 'failed', currentStep: undefined, reason: `the orchestration ${runtime.toLowerCase()}: ${String(status.output ?? 'no detail')}` };
    }
    return progress ?? { operationId, kind, cluster, outcome: 'running', currentStep: 'starting', problems: [], steps: [] };
  })();
  return { report, trigger: input.requestedBy, startedAt: new Date(status.createdTime).toISOString() };
}

/** GET …/operations/{id}: the report, what started the operation and when. */
export type OperationView = OperationReport & Pick<OperationRecord, 'trigger' | 'startedAt'>;

export const operationView = ({ report, trigger, startedAt }: OperationRecord): OperationView => ({ ...report, trigger, startedAt });

export async function readOperationRecord(client: DurableClient, cluster: string, operationId: string): Promise<OperationRecord | undefined> {
  const status = await statusOf(client, operationId);
  return status?.instanceId === operationId ? operationRecord(status, cluster) : undefined;
}

/** An operation's live progress or final report; undefined when this cluster never had it. */
export async function readOperation(client: DurableClient, cluster: string, operationId: string): Promise<OperationReport | undefined> {
  return (await readOperationRecord(client, cluster, operationId))?.report;
}
