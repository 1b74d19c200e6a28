import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ClusterConfig } from '../config/schema';
import { ClusterView, nodeNamed, primariesOf } from './cluster-view';
import { isStreaming } from './node-state';
import type { FailoverRequest } from './failover';
import type { OperationKind } from './operation';

/**
 * Unplanned power actions on a database VM, reported by Azure Resource Manager through Event Grid
 * (`Microsoft.Resources.ResourceActionSuccess`, one event per successful POST action on a
 * resource). They arrive after the action: too late to drain, early enough to start recovery
 * before the health check would notice. Pure parsing and decisions; the trigger does the I/O.
 */

export const RESOURCE_ACTION_SUCCESS = 'Microsoft.Resources.ResourceActionSuccess';

/** The VM actions that take PostgreSQL away, by ARM operation name (compared without regard to case). */
export const VM_POWER_ACTIONS = {
  'microsoft.compute/virtualmachines/poweroff/action': 'powered off',
  'microsoft.compute/virtualmachines/deallocate/action': 'deallocated',
  'microsoft.compute/virtualmachines/restart/action': 'restarted',
} as const;

export interface VmPowerAction {
  /** The Event Grid event id (a redelivered event has the same id). */
  eventId: string;
  eventTime?: string;
  /** As ARM wrote it in the event (resource group casing varies between events). */
  vmResourceId: string;
  vmName: string;
  operationName: string;
  /** "powered off" | "deallocated" | "restarted" */
  what: (typeof VM_POWER_ACTIONS)[keyof typeof VM_POWER_ACTIONS];
}

const VM_ID = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.compute\/virtualmachines\/([^/]+)$/i;

const ResourceActionData = z.looseObject({
  operationName: z.string(),
  resourceUri: z.string().optional(),
  status: z.string().optional(),
});

/** Event Grid schema (what a function's eventGrid trigger receives by default). */
const EventGridSchemaEvent = z.looseObject({
  id: z.string().min(1),
  subject: z.string(),
  eventType: z.string(),
  eventTime: z.string().optional(),
  data: z.unknown(),
});

/** CloudEvents 1.0 schema (an event subscription may deliver this instead). */
const CloudEventSchemaEvent = z.looseObject({
  specversion: z.string(),
  id: z.string().min(1),
  type: z.string(),
  source: z.string().optional(),
  subject: z.string().optional(),
  time: z.string().optional(),
  data: z.unknown(),
});

export type VmPowerActionParse = { relevant: true; action: VmPowerAction } | { relevant: false; why: string };

/** Reads one delivered event; anything but a successful power-off/deallocate/restart of a VM is not relevant (and says why). */
export function parseVmPowerAction(event: unknown): VmPowerActionParse {
  const cloud = CloudEventSchemaEvent.safeParse(event);
  const grid = cloud.success ? undefined : EventGridSchemaEvent.safeParse(event);
  if (!cloud.success && !grid?.success) return { relevant: false, why: 'not an Event Grid or CloudEvents event (no id/eventType/type)' };
  const envelope = cloud.success
    ? { id: cloud.data.id, type: cloud.data.type, subject: cloud.data.subject, time: cloud.data.time, data: cloud.data.data }
    : { id: grid!.data!.id, type: grid!.data!.eventType, subject: grid!.data!.subject, time: grid!.data!.eventTime, data: grid!.data!.data };
  if (envelope.type.toLowerCase() !== RESOURCE_ACTION_SUCCESS.toLowerCase()) return { relevant: false, why: `event type ${envelope.type} is not ${RESOURCE_ACTION_SUCCESS}` };
  const data = ResourceActionData.safeParse(envelope.data);
  if (!data.success) return { relevant: false, why: 'the event has no data.operationName' };
  const operationName = data.data.operationName;
  const what = VM_POWER_ACTIONS[operationName.toLowerCase() as keyof typeof VM_POWER_ACTIONS];
  if (!what) return { relevant: false, why: `operation ${operationName} does not take a VM down` };
  if (data.data.status && data.data.status.toLowerCase() !== 'succeeded') return { relevant: false, why: `operation ${operationName} has status ${data.data.status}` };
  const vmResourceId = data.data.resourceUri ?? envelope.subject ?? '';
  const match = VM_ID.exec(vmResourceId);
  if (!match) return { relevant: false, why: `"${vmResourceId}" is not a virtual machine resource id` };
  return { relevant: true, action: { eventId: envelope.id, ...(envelope.time ? { eventTime: envelope.time } : {}), vmResourceId, vmName: match[1], operationName, what } };
}

/** The configured node whose VM this is (ARM ids compare without regard to case). */
export function nodeOfVm(clusters: readonly ClusterConfig[], vmResourceId: string): { cluster: ClusterConfig; node: string } | undefined {
  const wanted = vmResourceId.toLowerCase();
  for (const cluster of clusters) {
    const node = cluster.nodes.find((n) => n.vmResourceId.toLowerCase() === wanted);
    if (node) return { cluster, node: node.name };
  }
  return undefined;
}

export type VmGoneDecision =
  /** The primary went away: fail over (kind 'failover'). */
  | { action: 'failover'; why: string }
  /** A standby (or a node that no longer serves as primary) went away: out of the read pool. */
  | { action: 'remove-from-pools'; why: string }
  /** Nothing to do now; `why` goes to the log. */
  | { action: 'ignore'; why: string };

/**
 * After a VM went down (or restarted) under the app's feet. The node's role is what the cluster
 * shows now, not what the event implies: a graceful power-off ran the shutdown hook, which may
 * already have moved the primary away, and a restart may be over before the event is handled.
 */
export function decideVmGone(view: ClusterView, node: string, running?: { operationId: string; kind: OperationKind }): VmGoneDecision {
  const self = nodeNamed(view, node);
  const otherPrimaries = primariesOf(view).filter((p) => p.name !== node);
  if (self?.reachable && self.role === 'primary') return { action: 'ignore', why: `${node} is a reachable primary again (it came back before the event was handled)` };
  if (self && isStreaming(self)) return { action: 'ignore', why: `${node} is back and streaming as a standby` };
  const wasPrimary = view.pools.write.includes(node) && otherPrimaries.length === 0;
  if (wasPrimary) {
    if (running) return { action: 'ignore', why: `${node} was the primary, but ${running.kind} ${running.operationId} is already running on the cluster` };
    return { action: 'failover', why: `${node} was the primary (in the write pool, no other primary reachable) and cannot be reached` };
  }
  if (running && self?.reachable) return { action: 'ignore', why: `${node} is reachable and ${running.kind} ${running.operationId} is running: the operation owns the pools` };
  return { action: 'remove-from-pools', why: `${node} is ${self?.reachable ? `a ${self.role} that does not stream` : 'unreachable'} and is not the primary` };
}

/**
 * The recovery an event starts runs under an id derived from the Event Grid event id, so a
 * redelivered event (Event Grid delivers at least once) finds it instead of starting another.
 */
export function powerActionOperationId(cluster: string, eventId: string): string {
  return `${cluster}-failover-vm-event-${createHash('sha256').update(eventId.toLowerCase()).digest('hex').slice(0, 16)}`;
}

/**
 * The failover an unplanned power action starts (orchestrations/failover.ts). It is automatic, so
 * like the health check's it is called off if the old primary answers again by the time it looks (a
 * restart that is already over) or the standbys stream from it again (docs/invariants.md S6); it
 * never accepts data loss beyond the policy (S7).
 */
export function failoverRequestFor(action: VmPowerAction): FailoverRequest {
  return { reason: `VM ${action.vmName} ${action.what} (${action.operationName}, Event Grid event ${action.eventId})`, requireDeadPrimary: true };
}
