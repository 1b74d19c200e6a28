import { randomUUID } from 'node:crypto';
import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { clusterConfig } from '../app/services';
import { invalidBody, json, readJsonBody } from '../http/problem';
import { handleErrors } from '../http/common';
import type { MonitorEvent } from '../domain/health';
import { sendUntilApplied } from './monitor-requests';

const MaintenanceBody = z.strictObject({
  enabled: z.boolean('enabled must be true (pause automatic actions) or false (resume them)'),
  reason: z.string('reason must be text').min(1, 'reason must not be empty').max(500, 'reason must be at most 500 characters').optional(),
});

/**
 * POST /api/clusters/{cluster}/maintenance {"enabled": true|false, "reason"?} — pauses or resumes
 * the health check's automatic actions (failover, fencing, rejoin); checks and reports go on.
 * The flag lives in the cluster monitor's durable state: 200 once the monitor has applied it,
 * 202 if it has not confirmed it within 10 s (it is busy: events are applied in order, so before
 * anything it does next — unless the request is lost after the endpoint stopped re-sending it).
 *
 * The request is an event tagged with its own id, sent again while it may have been lost
 * (sendUntilApplied); the monitor applies a request id once.
 */
export async function maintenanceHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = MaintenanceBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, 'enabled, reason');
    const { enabled, reason } = parsed.data;

    const requestId = randomUUID();
    const event: MonitorEvent = { type: 'maintenance', enabled, by: 'http', reason: reason ?? null, requestId, requestedAt: new Date().toISOString() };
    const state = await sendUntilApplied(client, cluster.name, event);
    if (state) return json(200, { cluster: cluster.name, maintenance: state.maintenance });
    return json(202, { cluster: cluster.name, requested: { enabled, reason: reason ?? null }, detail: `the cluster monitor is busy and has not confirmed the change yet; GET /api/clusters/${cluster.name}/health shows when it has (send it again if it does not)` });
  }, context);
}

df.app.client.http('setMaintenance', { route: 'clusters/{cluster}/maintenance', methods: ['POST'], authLevel: 'function', handler: maintenanceHandler });
