import { randomUUID } from 'node:crypto';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import type { ClusterView } from '../domain/cluster-view';
import { CLUSTER_OWNERSHIP, type LeaseRequest, type OwnershipState } from '../domain/ownership';
import { decideWriteLease, leaseExpiryCap, type LeaseDecision } from '../domain/write-lease';
import { primariesOf } from '../domain/cluster-view';
import { withClient } from '../adapters/postgres/connect';
import { grantLease, readLease, renewLease } from '../adapters/postgres/lease';
import { operationStatus } from './operations';
import { clusterServices } from './services';

/** What one look did with the write lease, for the health check's log line. */
export type LeaseKept = LeaseDecision & { done: boolean };

/**
 * Probe mode: renew the write lease of the one reachable primary, or grant the first one
 * (src/domain/write-lease.ts), never past the cap of a look that began at `lookStartedAt`, and
 * only once the cluster's ownership record has permitted it. One short SQL session on that
 * primary; no ARM call.
 */
export async function keepWriteLease(durable: DurableClient, cluster: string, view: ClusterView, operationRunning: boolean, lookStartedAt: Date): Promise<LeaseKept> {
  const services = clusterServices(cluster);
  const primaries = primariesOf(view);
  // Only a single reachable primary can hold the lease: nothing to read otherwise.
  if (primaries.length !== 1) return { ...decideWriteLease(view, null, operationRunning), done: false };
  const { leaseTtlSeconds, health } = services.config.policy;
  const cap = leaseExpiryCap(lookStartedAt, leaseTtlSeconds);
  const timeouts = { connectTimeoutMs: health.probeTimeoutMs, statementTimeoutMs: health.probeTimeoutMs };
  // One session on the primary reads the lease and renews or grants it.
  return withClient(
    await services.adminEndpoint(primaries[0].name),
    async (client): Promise<LeaseKept> => {
      // One read of the ownership record per look: whether an operation that has moved the writer
      // handed its lease back to the health check (ownership.ts handLease), and who owns the cluster.
      const record = await ownership(durable, cluster);
      const handedToPrimary = operationRunning && record?.leaseHandedTo === primaries[0].name;
      const decided = decideWriteLease(view, await readLease(client), operationRunning && !handedToPrimary);
      if (decided.action === 'none') return { ...decided, done: false };
      const permit = await permitLeaseWrite(durable, cluster, cap, decided.node, record?.owner ?? null);
      if (!permit.permitted) return { action: 'none', why: `no ${decided.action} of ${decided.node}'s lease: ${permit.why}`, done: false };
      if (decided.action === 'renew') return { ...decided, done: await renewLease(client, { holder: decided.node, epoch: decided.epoch }, leaseTtlSeconds, cap) };
      return { ...decided, done: (await grantLease(client, decided.node, leaseTtlSeconds, cap)).changed };
    },
    timeouts,
  );
}

async function ownership(durable: DurableClient, cluster: string): Promise<OwnershipState | undefined> {
  const record = await durable.readEntityState<OwnershipState>(new df.EntityId(CLUSTER_OWNERSHIP, cluster));
  return record.entityExists ? record.entityState : undefined;
}

const PERMIT_WAIT_MS = 10_000;
const PERMIT_POLL_MS = 100;

/**
 * Asks the cluster's ownership entity to permit a lease write lasting at most to `cap`
 * (src/domain/ownership.ts permitLease) and reads its answer back: a durable client can only
 * signal an entity. `owner` is the owner the look read: one whose operation ended is named, so the
 * entity may let go of it. Refused while an operation owns the cluster (unless it handed the lease
 * to `holder`); an answer that does not come in time (or that another look's request replaced)
 * counts as refused.
 */
async function permitLeaseWrite(durable: DurableClient, cluster: string, cap: Date, holder: string, owner: OwnershipState['owner']): Promise<{ permitted: true } | { permitted: false; why: string }> {
  const entity = new df.EntityId(CLUSTER_OWNERSHIP, cluster);
  const ownerEnded = owner && !(await operationStatus(durable, owner.operationId)).active ? owner.operationId : undefined;
  const request: LeaseRequest = { id: randomUUID(), cap: cap.toISOString(), holder, ...(ownerEnded ? { ownerEnded } : {}) };
  await durable.signalEntity(entity, 'permitLease', request);
  const deadline = Date.now() + PERMIT_WAIT_MS;
  for (;;) {
    const answer = (await durable.readEntityState<OwnershipState>(entity)).entityState?.lastLeaseRequest;
    if (answer?.id === request.id) return answer.permitted ? { permitted: true } : { permitted: false, why: 'an operation owns the cluster' };
    if (Date.now() >= deadline) return { permitted: false, why: `the cluster's ownership record did not answer within ${PERMIT_WAIT_MS / 1000} s` };
    await new Promise((resolve) => setTimeout(resolve, PERMIT_POLL_MS));
  }
}
