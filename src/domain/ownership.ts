import type { OperationKind } from './operation';

/**
 * Who owns a cluster: the one operation (switchover or failover) allowed to change it
 * (docs/invariants.md S5). The record lives in a Durable entity per cluster, whose operations run
 * one at a time, so a claim is an atomic compare-and-set however many triggers race: the instance
 * id of a start is not (Azure Storage reads, then writes; docs/azure-platform.md item 1).
 */
export interface ClusterOwner {
  operationId: string;
  kind: OperationKind;
  since: string;
}

export interface OwnershipState {
  owner: ClusterOwner | null;
}

export type Claim = { granted: true } | { granted: false; owner: ClusterOwner };

export interface ClaimRequest {
  operationId: string;
  kind: OperationKind;
  at: string;
  /**
   * Take the cluster over from this owner, which was seen ended (terminated, failed): a claim
   * that names an owner which has changed meanwhile is refused like any other.
   */
  replacing?: string;
}

export const CLUSTER_OWNERSHIP = 'clusterOwnership';

/** The operation's first runbook step: its report tells a trigger whether the claim was granted. */
export const CLAIM_STEP = 'claim cluster';

export const emptyOwnership = (): OwnershipState => ({ owner: null });

/** Granted when the cluster is free, already this operation's, or held by the owner it replaces. */
export function claim(state: OwnershipState, request: ClaimRequest): { state: OwnershipState; claim: Claim } {
  const owner = state.owner;
  const free = owner === null || owner.operationId === request.operationId || (request.replacing !== undefined && owner.operationId === request.replacing);
  if (!free) return { state, claim: { granted: false, owner } };
  if (owner?.operationId === request.operationId) return { state, claim: { granted: true } };
  return { state: { owner: { operationId: request.operationId, kind: request.kind, since: request.at } }, claim: { granted: true } };
}

/** Only the owner releases; a release by anyone else (a late duplicate) changes nothing. */
export function release(state: OwnershipState, operationId: string): OwnershipState {
  return state.owner?.operationId === operationId ? emptyOwnership() : state;
}
