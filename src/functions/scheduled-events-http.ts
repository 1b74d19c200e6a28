import * as df from 'durable-functions';
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import type { ClusterConfig } from '../config/schema';
import { clusterServices, locateNode, nodeAuthentication } from '../app/services';
import { authenticateNode } from '../app/node-auth';
import { inspectCluster } from '../app/inspection';
import { currentOperation, readOperation, startOperation } from '../app/operations';
import {
  decideMaintenance,
  describeTrigger,
  MaintenanceTrigger,
  maintenanceOperationId,
  nodesNamedBy,
  retryAfterSeconds,
  SCHEDULED_EVENT_TYPES,
  vmNameOf,
} from '../domain/scheduled-events';
import type { OperationKind } from '../domain/operation';
import type { SwitchoverInput } from '../../orchestrations/switchover';
import { invalidBody, json, problemResponse, readJsonBody } from '../http/problem';
import { handleErrors, operationLinks } from '../http/common';
import { nodeNamed } from '../domain/cluster-view';
import { holdForApproval, holdRequestId } from '../domain/maintenance-hold';
import { sendUntilApplied } from './monitor-requests';
import { telemetry } from '../telemetry';
import { scheduledEventRecords } from '../telemetry/records';

/**
 * The event as the agent on the VM forwards it from the Scheduled Events document
 * (api-version 2020-07-01). Fields the service may add later are dropped, not refused: an agent
 * refused for an extra field could not coordinate the maintenance at all.
 */
const ScheduledEventBody = z.object({
  EventId: z.string('EventId must be the event id from the Scheduled Events document').regex(/^[0-9A-Za-z-]{1,64}$/, 'EventId must be 1-64 letters, digits or -'),
  EventType: z.enum(SCHEDULED_EVENT_TYPES, `EventType must be one of ${SCHEDULED_EVENT_TYPES.join(', ')}`),
  ResourceType: z.literal('VirtualMachine', 'ResourceType must be "VirtualMachine"').optional(),
  Resources: z.array(z.string('Resources must list VM names').min(1, 'Resources must list VM names'), 'Resources must list the VM names the event affects').min(1, 'Resources must name at least one VM'),
  EventStatus: z.enum(['Scheduled', 'Started'], 'EventStatus must be "Scheduled" or "Started"'),
  NotBefore: z
    .string('NotBefore must be the event\'s start time (RFC 1123) or ""')
    .refine((value) => value === '' || !Number.isNaN(Date.parse(value)), 'NotBefore must be an RFC 1123 time such as "Mon, 11 Apr 2026 22:26:58 GMT", or "" once started'),
  Description: z.string('Description must be text').optional(),
  EventSource: z.enum(['Platform', 'User'], 'EventSource must be "Platform" or "User"').optional(),
  DurationInSeconds: z.int('DurationInSeconds must be a whole number').optional(),
});

const FIELDS = 'EventId, EventType, ResourceType, Resources, EventStatus, NotBefore, Description, EventSource, DurationInSeconds';

/**
 * POST /api/clusters/{cluster}/nodes/{node}/scheduled-events — the agent on `node` forwards an
 * Azure Scheduled Event and polls (re-posting the same event) until the answer is final:
 * 202 in progress (retryAfter seconds), 200 `{"verdict":"approve"}` (approve the event now) or
 * 200 `{"verdict":"wait"}` (do not approve; the maintenance runs at NotBefore).
 */
export async function scheduledEventHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  let eventType = '';
  const response = await handleErrors(async () => {
    const { cluster, node } = await authenticateNode(request.headers.get('authorization'), () => locateNode(request), nodeAuthentication());
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = ScheduledEventBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, FIELDS);
    const event = parsed.data;
    eventType = event.EventType;
    const affected = nodesNamedBy(cluster, event.Resources);
    if (!affected.includes(node.name)) {
      const message = `the event names ${event.Resources.join(', ')}, not ${vmNameOf(node)} (the VM of node ${node.name}): forward only the events that name this VM`;
      return problemResponse({ status: 400, title: 'Invalid request body', detail: `Resources: ${message}`, errors: [{ field: 'Resources', message }] });
    }
    const trigger: MaintenanceTrigger = { kind: 'scheduled-event', eventId: event.EventId, eventType: event.EventType };
    return answerMaintenance(request, client, context, { cluster, node: node.name, trigger, alsoAffected: affected, durationSeconds: event.DurationInSeconds });
  }, context);
  telemetry().send(scheduledEventRecords({ cluster: request.params.cluster, node: request.params.node, eventType, response }));
  return response;
}

/**
 * The shared answer of both maintenance triggers (scheduled event, guest shutdown). Every call
 * decides afresh from durable state — the trigger's own operation (a deterministic id), the
 * cluster's running operation, the roles now — so a repeated or concurrent call never starts a
 * second switchover and a caller may poll by asking again.
 */
export async function answerMaintenance(
  request: HttpRequest,
  client: df.DurableClient,
  context: InvocationContext,
  ask: { cluster: ClusterConfig; node: string; trigger: MaintenanceTrigger; alsoAffected?: string[]; durationSeconds?: number },
): Promise<HttpResponseInit> {
  const { cluster, node, trigger } = ask;
  const ownId = maintenanceOperationId(cluster.name, node, trigger);
  const ownReport = await readOperation(client, cluster.name, ownId);
  const running = await currentOperation(client, cluster.name);
  const own = ownReport ? { operationId: ownId, outcome: ownReport.outcome, ...(ownReport.reason ? { reason: ownReport.reason } : {}) } : undefined;
  const view = running ? undefined : await inspectCluster(cluster.name);
  const decision = decideMaintenance({ cluster, node, own, running, view, alsoAffected: ask.alsoAffected ?? [] });
  const log = (answer: Record<string, unknown>) =>
    context.log(JSON.stringify({ component: 'maintenance', cluster: cluster.name, node, trigger: describeTrigger(node, trigger), decision: decision.action, ...answer }));

  switch (decision.action) {
    case 'in-progress':
      log({ operationId: decision.operationId, joined: decision.joined });
      return inProgress(request, cluster, node, decision);
    case 'switchover': {
      const switchover: SwitchoverInput = decision.target ? { target: decision.target } : {};
      const started = await startOperation(client, { operationId: ownId, kind: 'switchover', cluster, request: switchover, requestedBy: describeTrigger(node, trigger) });
      const now = started.started ? { operationId: ownId, kind: 'switchover' as const, joined: false } : { ...started.running, joined: started.running.operationId !== ownId };
      log({ operationId: now.operationId, started: started.started, target: decision.target ?? null, why: decision.why });
      return inProgress(request, cluster, node, now);
    }
    case 'approve': {
      // Held first, then out of the pools: no health check can put it back into the read pool
      // in between, nor before the maintenance is over (src/domain/maintenance-hold.ts).
      const self = view && nodeNamed(view, node);
      const hold = holdForApproval({ node, trigger, approvedAt: new Date().toISOString(), serverStartedAt: self?.reachable ? self.serverStartedAt : null, durationSeconds: ask.durationSeconds });
      const held = await sendUntilApplied(client, cluster.name, { type: 'maintenance-hold', hold, requestId: holdRequestId(node, trigger) });
      if (!held) {
        log({ why: decision.why, held: false });
        return notHeldYet(cluster, node);
      }
      const services = clusterServices(cluster.name);
      const { changed } = await services.loadBalancer.setRole(services.node(node), 'none');
      log({ why: decision.why, removedFromPools: changed, heldUntil: hold.until });
      return json(200, {
        verdict: 'approve',
        node,
        detail: `${decision.why}; ${changed ? 'taken out of' : 'already out of'} the load balancer pools: the maintenance may start now`,
        ...(decision.operationId ? { operationId: decision.operationId } : {}),
      });
    }
    case 'wait':
      log({ why: decision.why });
      return json(200, { verdict: 'wait', node, reason: decision.why, ...(decision.operationId ? { operationId: decision.operationId } : {}) });
  }
}

/** The monitor has not confirmed the hold yet: not approved now, ask again (the answer is decided afresh then). */
function notHeldYet(cluster: ClusterConfig, node: string): HttpResponseInit {
  const retryAfter = retryAfterSeconds(cluster);
  return {
    status: 202,
    headers: { 'retry-after': String(retryAfter) },
    jsonBody: {
      verdict: 'in-progress',
      node,
      retryAfter,
      detail: `${node} may go, but the cluster monitor has not yet confirmed that it keeps ${node} out of the pools until the maintenance is over; ask again in ${retryAfter} s`,
    },
  };
}

function inProgress(request: HttpRequest, cluster: ClusterConfig, node: string, running: { operationId: string; kind: OperationKind; joined: boolean }): HttpResponseInit {
  const retryAfter = retryAfterSeconds(cluster);
  const links = operationLinks(request, cluster.name, running.operationId);
  return {
    status: 202,
    headers: { 'retry-after': String(retryAfter), location: links.statusUrl },
    jsonBody: {
      verdict: 'in-progress',
      node,
      operationId: running.operationId,
      kind: running.kind,
      joined: running.joined,
      retryAfter,
      detail: running.joined
        ? `${running.kind} ${running.operationId} is running on cluster ${cluster.name}; ask again in ${retryAfter} s (the answer follows once it has finished)`
        : `switching over away from ${node} (${running.operationId}); ask again in ${retryAfter} s`,
      ...links,
    },
  };
}

df.app.client.http('scheduledEvent', {
  route: 'clusters/{cluster}/nodes/{node}/scheduled-events',
  methods: ['POST'],
  // Only the node's own VM, by its managed identity token (src/app/node-auth.ts): no function key
  // opens these routes, so a VM holds nothing that reaches an operator route or another node.
  authLevel: 'anonymous',
  handler: scheduledEventHandler,
});
