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
  /**
   * Probe mode (docs/design.md §9): the latest time any write lease granted or renewed so far may
   * last to (app clock, ISO). Health checks ask here before each lease write, operations add theirs
   * when they release, so a failover's claim learns how long the old primary may still hold one.
   * Absent in records written before it existed: unknown.
   */
  leaseHorizon?: string | null;
  /** The last lease write asked for, and the answer (the health check reads it back). */
  lastLeaseRequest?: { id: string; permitted: boolean } | null;
  /**
   * The node the owning operation has settled the write lease on (its new primary, once the
   * writer moved): health checks may renew that node's lease while the operation still runs its
   * slow tail (follows, a rejoin), which may outlast the lease. Cleared when the owner changes.
   */
  leaseHandedTo?: string | null;
}

/** Granted with the lease horizon as the claim found it (null: unknown). */
export type Claim = { granted: true; leaseHorizon: string | null } | { granted: false; owner: ClusterOwner };

export interface ClaimRequest {
  operationId: string;
  kind: OperationKind;
  at: string;
  /**
   * Take the cluster over from this owner, which was seen ended (terminated, failed): a claim
   * that names an owner which has changed meanwhile is refused like any other.
   */
  replacing?: string;
  /** Probe mode: the latest expiry a lease written by the owner it replaces could have (it never released). */
  replacedLeaseCap?: string;
}

/** A health check asks to write a lease that lasts at most to `cap` (app clock, ISO). */
export interface LeaseRequest {
  id: string;
  cap: string;
  /**
   * The owner on record, seen ended (terminated, failed) by the asker: it no longer writes leases,
   * and the next claim takes it over.
   */
  ownerEnded?: string;
  /** The node whose lease is to be written. */
  holder?: string;
}

/** The owning operation has settled the write lease on `node`. */
export interface HandLeaseRequest {
  operationId: string;
  node: string;
}

/** An operation gives the cluster back; in probe mode with the latest expiry of any lease it wrote. */
export interface ReleaseRequest {
  operationId: string;
  leaseCap?: string;
}

export const CLUSTER_OWNERSHIP = 'clusterOwnership';

/** The operation's first runbook step: its report tells a trigger whether the claim was granted. */
export const CLAIM_STEP = 'claim cluster';

export const emptyOwnership = (): OwnershipState => ({ owner: null });

const later = (a: string | null | undefined, b: string | undefined): string | null | undefined => (b === undefined ? a : a === undefined || a === null ? b : Date.parse(b) > Date.parse(a) ? b : a);

/** Granted when the cluster is free, already this operation's, or held by the owner it replaces. */
export function claim(state: OwnershipState, request: ClaimRequest): { state: OwnershipState; claim: Claim } {
  const owner = state.owner;
  const free = owner === null || owner.operationId === request.operationId || (request.replacing !== undefined && owner.operationId === request.replacing);
  if (!free) return { state, claim: { granted: false, owner } };
  const leaseHorizon = owner !== null && owner.operationId !== request.operationId ? later(state.leaseHorizon, request.replacedLeaseCap) : state.leaseHorizon;
  const next: OwnershipState = { ...state, owner: { operationId: request.operationId, kind: request.kind, since: request.at }, leaseHandedTo: null, ...(leaseHorizon !== undefined ? { leaseHorizon } : {}) };
  if (owner?.operationId === request.operationId) return { state, claim: { granted: true, leaseHorizon: state.leaseHorizon ?? null } };
  return { state: next, claim: { granted: true, leaseHorizon: leaseHorizon ?? null } };
}

/**
 * Only the owner releases; a release by anyone else (a late duplicate) changes nothing. A string
 * is a release from before lease caps existed.
 */
export function release(state: OwnershipState, request: ReleaseRequest | string): OwnershipState {
  const { operationId, leaseCap } = typeof request === 'string' ? { operationId: request, leaseCap: undefined } : request;
  if (state.owner?.operationId !== operationId) return state;
  const leaseHorizon = later(state.leaseHorizon, leaseCap);
  return { ...state, owner: null, leaseHandedTo: null, ...(leaseHorizon !== undefined ? { leaseHorizon } : {}) };
}

/** Only the owner hands the lease on; anyone else's request (a late duplicate) changes nothing. */
export function handLease(state: OwnershipState, request: HandLeaseRequest): OwnershipState {
  return state.owner?.operationId === request.operationId ? { ...state, leaseHandedTo: request.node } : state;
}

/**
 * A health check's lease write is permitted only while no operation owns the cluster (or the
 * owner on record has ended, or has handed the lease to this holder), and the horizon grows to
 * its cap first: whatever the failover claiming next reads includes every write permitted before it.
 */
export function permitLease(state: OwnershipState, request: LeaseRequest): OwnershipState {
  const handedToHolder = request.holder !== undefined && state.leaseHandedTo === request.holder;
  const permitted = state.owner === null || state.owner.operationId === request.ownerEnded || handedToHolder;
  const leaseHorizon = permitted ? later(state.leaseHorizon, request.cap) : state.leaseHorizon;
  return { ...state, ...(leaseHorizon !== undefined ? { leaseHorizon } : {}), lastLeaseRequest: { id: request.id, permitted } };
}
