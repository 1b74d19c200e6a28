import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { callActivity } from '../activities/catalogue';
import { OperationInput, OperationReport } from '../src/domain/operation';
import { Claim, CLAIM_STEP, CLUSTER_OWNERSHIP, ClaimRequest, HandLeaseRequest, ReleaseRequest } from '../src/domain/ownership';
import { operationLeaseCap } from '../src/domain/write-lease';
import type { Runbook } from './runbook';

const ownershipOf = (cluster: string) => new df.EntityId(CLUSTER_OWNERSHIP, cluster);

/**
 * Claims the cluster for this operation (docs/invariants.md S5). An owner that no longer runs —
 * terminated or failed without releasing — is taken over; the entity grants the take-over only if
 * that owner is still the one on record.
 */
function* claimCluster(context: OrchestrationContext, input: OperationInput<unknown>): Generator<Task, Claim, unknown> {
  const entity = ownershipOf(input.cluster.name);
  const request: ClaimRequest = { operationId: input.operationId, kind: input.kind, at: context.df.currentUtcDateTime.toISOString() };
  const first = (yield context.df.callEntity(entity, 'claim', request)) as Claim;
  if (first.granted) return first;
  const owner = yield* callActivity(context, 'readOperationStatus', { operationId: first.owner.operationId });
  if (owner.active) return first;
  const replacedLeaseCap = operationLeaseCap(context.df.currentUtcDateTime, input.cluster);
  return (yield context.df.callEntity(entity, 'claim', { ...request, replacing: first.owner.operationId, ...(replacedLeaseCap ? { replacedLeaseCap } : {}) } satisfies ClaimRequest)) as Claim;
}

/** What a granted claim tells the operation's steps. */
export interface Claimed {
  /** Orchestration time once the claim was granted. */
  claimedAt: Date;
  /** Probe mode: no lease written before the claim lasts past this (ISO; null: unknown). */
  leaseHorizon: string | null;
  /**
   * Probe mode: the writer has moved to `node` — health checks may renew its lease while this
   * operation finishes its tail (follows, a rejoin that may outlast the lease). A one-way signal.
   */
  handLeaseTo(node: string): void;
}

/**
 * Runs an operation's steps only while it owns its cluster, and gives the cluster back however
 * they end (completed, refused, aborted, or an error). An operation that loses the claim — another
 * trigger's operation got there first — ends "refused" having changed nothing, and says which
 * operation owns the cluster.
 */
export function* exclusively(
  context: OrchestrationContext,
  runbook: Runbook,
  input: OperationInput<unknown>,
  steps: (claimed: Claimed) => Generator<Task, OperationReport, unknown>,
): Generator<Task, OperationReport, unknown> {
  const claimed = yield* runbook.step(CLAIM_STEP, claimCluster(context, input), (c) => (c.granted ? { granted: true, leaseHorizon: c.leaseHorizon ?? null } : { owner: c.owner }));
  if (!claimed.granted) {
    const { owner } = claimed;
    return runbook.finish('refused', `${owner.kind} ${owner.operationId} owns cluster ${input.cluster.name} (since ${owner.since}): one operation per cluster at a time`);
  }
  try {
    const handLeaseTo = (node: string) => {
      if (input.cluster.loadBalancer.membership !== 'probe') return;
      context.df.signalEntity(ownershipOf(input.cluster.name), 'handLease', { operationId: input.operationId, node } satisfies HandLeaseRequest);
    };
    return yield* steps({ claimedAt: context.df.currentUtcDateTime, leaseHorizon: claimed.leaseHorizon ?? null, handLeaseTo });
  } finally {
    // In probe mode any lease this operation granted lasts at most the ttl from now.
    const leaseCap = operationLeaseCap(context.df.currentUtcDateTime, input.cluster);
    context.df.signalEntity(ownershipOf(input.cluster.name), 'release', { operationId: input.operationId, ...(leaseCap ? { leaseCap } : {}) } satisfies ReleaseRequest);
  }
}
