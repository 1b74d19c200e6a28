import { createHash } from 'node:crypto';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { rankCandidates } from './candidates';
import { ClusterView, nodeNamed, primariesOf, standbysOf, streamsFrom } from './cluster-view';
import type { OperationKind, OperationOutcome } from './operation';

/**
 * Maintenance triggers (docs/design.md §1): an Azure Scheduled Event forwarded by the agent on the
 * VM, or the VM's own guest OS shutting down. Both ask the same question — may this node go down
 * now? — and get the same answer: a standby leaves the read pool and may go at once; the primary is
 * switched away first. Pure decisions; the HTTP triggers do the I/O.
 */

/** The event types the Scheduled Events service (api-version 2020-07-01) announces for a VM. */
export const SCHEDULED_EVENT_TYPES = ['Reboot', 'Redeploy', 'Freeze', 'Preempt', 'Terminate'] as const;
export type ScheduledEventType = (typeof SCHEDULED_EVENT_TYPES)[number];

/** One entry of the Scheduled Events document's Events array, as the agent forwards it. */
export interface ScheduledEvent {
  EventId: string;
  EventType: ScheduledEventType;
  ResourceType: 'VirtualMachine';
  /** VM names (resource names) the event affects; may name several VMs of an availability set. */
  Resources: string[];
  EventStatus: 'Scheduled' | 'Started';
  /** RFC 1123 time; empty once the event has started. */
  NotBefore: string;
  Description?: string;
  EventSource?: 'Platform' | 'User';
  DurationInSeconds?: number;
}

/** The VM (resource) name of a node: the last segment of its vmResourceId. */
export const vmNameOf = (node: Pick<NodeConfig, 'vmResourceId'>): string => node.vmResourceId.slice(node.vmResourceId.lastIndexOf('/') + 1);

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The cluster's nodes whose VMs an event names (Azure compares resource names without regard to case). */
export function nodesNamedBy(cluster: Pick<ClusterConfig, 'nodes'>, resources: readonly string[]): string[] {
  return cluster.nodes.filter((node) => resources.some((vm) => sameName(vm, vmNameOf(node)))).map((node) => node.name);
}

/** What a maintenance request is about; the key makes repeated requests of one trigger idempotent. */
export type MaintenanceTrigger = { kind: 'scheduled-event'; eventId: string; eventType: ScheduledEventType } | { kind: 'shutdown'; requestId: string };

/**
 * The switchover a maintenance trigger starts runs under an operation id derived from the trigger
 * (EventId or the hook's request id), so the same event forwarded twice, or polled again, finds
 * that same operation: the EventId→operation mapping lives in the durable instance itself.
 * Hashed: instance ids have a length limit and must not carry '/', '\\', '#' or '?'.
 */
export function maintenanceOperationId(cluster: string, node: string, trigger: MaintenanceTrigger): string {
  const key = trigger.kind === 'scheduled-event' ? `event\n${trigger.eventId.toLowerCase()}` : `shutdown\n${trigger.requestId}`;
  const digest = createHash('sha256').update(`${node}\n${key}`).digest('hex').slice(0, 16);
  return `${cluster}-switchover-${trigger.kind === 'scheduled-event' ? 'event' : 'shutdown'}-${digest}`;
}

export function describeTrigger(node: string, trigger: MaintenanceTrigger): string {
  return trigger.kind === 'scheduled-event'
    ? `scheduled event ${trigger.eventType} ${trigger.eventId} for ${node}`
    : `guest OS shutdown of ${node} (request ${trigger.requestId})`;
}

/** What the trigger already knows when it decides. */
export interface MaintenanceFacts {
  cluster: ClusterConfig;
  node: string;
  /** The operation this same trigger started earlier, if any (finished: its running state is in `running`). */
  own?: { operationId: string; outcome: OperationOutcome; reason?: string };
  /** The cluster's running operation (the single-flight gate's), whoever started it. */
  running?: { operationId: string; kind: OperationKind };
  /** One look at the cluster; not needed (and not taken) while an operation runs. */
  view?: ClusterView;
  /** Other nodes the same maintenance takes down (an event naming several VMs): never the switchover target if avoidable. */
  alsoAffected?: string[];
}

export type MaintenanceDecision =
  /** An operation runs (ours or another trigger's): answer 202 and let the caller poll. */
  | { action: 'in-progress'; operationId: string; kind: OperationKind; joined: boolean }
  /** The node is the primary: start a switchover away from it (then answer 202). */
  | { action: 'switchover'; target?: string; why: string }
  /** The node is not (or no longer) the primary: take it out of the read pool, then it may go. */
  | { action: 'approve'; why: string; operationId?: string }
  /** Do not approve early: the maintenance runs at its own time (NotBefore) or the shutdown goes ahead unaided. */
  | { action: 'wait'; why: string; operationId?: string };

/**
 * The runbook of a planned maintenance:
 * 1. an operation is running → wait for it (single flight, S5); the same trigger joins its own;
 * 2. the node is the primary and this trigger has not tried yet → switch over away from it;
 * 3. the node is a standby, or no longer the primary → out of the read pool, approve;
 * 4. anything doubtful (our switchover was refused or aborted, the node's role cannot be seen
 *    while the load balancer still sends it writes) → wait: never approve early.
 */
export function decideMaintenance(facts: MaintenanceFacts): MaintenanceDecision {
  const { node, own, running } = facts;
  if (running) return { action: 'in-progress', operationId: running.operationId, kind: running.kind, joined: running.operationId !== own?.operationId };
  const view = facts.view;
  if (!view) throw new Error('decideMaintenance needs a view of the cluster when no operation runs');
  const self = nodeNamed(view, node);
  const ownNote = own ? { operationId: own.operationId } : {};

  if (self?.reachable && self.role === 'primary') {
    if (own) {
      return {
        action: 'wait',
        why: `switchover ${own.operationId} ended ${own.outcome}${own.reason ? ` (${own.reason})` : ''} and ${node} is still the primary: do not start the maintenance early`,
        ...ownNote,
      };
    }
    return { action: 'switchover', why: `${node} is the primary`, ...targetAvoiding(facts, view) };
  }
  if (!self?.reachable && view.pools.write.includes(node) && primariesOf(view).length === 0) {
    return {
      action: 'wait',
      why: `${node} cannot be reached from the app but is in the write pool: its role is unknown, so the maintenance is not approved early (the health check handles a dead primary)`,
      ...ownNote,
    };
  }
  const role = self?.reachable ? self.role : 'unreachable';
  return { action: 'approve', why: own ? `${node} is no longer the primary (${role} now)` : `${node} is ${role === 'standby' ? 'a standby' : role}`, ...ownNote };
}

/** The best switchover candidate, unless it goes down in the same maintenance and another can take over. */
function targetAvoiding(facts: MaintenanceFacts, view: ClusterView): { target?: string } {
  const avoid = new Set((facts.alsoAffected ?? []).filter((n) => n !== facts.node));
  if (avoid.size === 0) return {};
  const primary = primariesOf(view).find((p) => p.name === facts.node);
  if (!primary) return {};
  const ranked = rankCandidates(
    standbysOf(view).filter((s) => streamsFrom(s, primary)),
    facts.cluster.nodes,
  );
  if (ranked.length === 0 || !avoid.has(ranked[0].name)) return {};
  const spared = ranked.find((c) => !avoid.has(c.name));
  return spared ? { target: spared.name } : {};
}

/** How long the caller should wait before asking again (seconds): a few of the orchestration's own polls. */
export function retryAfterSeconds(cluster: Pick<ClusterConfig, 'policy'>): number {
  return Math.min(10, Math.max(1, Math.ceil((5 * cluster.policy.pollIntervalMs) / 1000)));
}
