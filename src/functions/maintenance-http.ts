import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { clusterConfig } from '../app/services';
import { invalidBody, json, readJsonBody } from '../http/problem';
import { handleErrors } from '../http/common';
import { readHealthState, sendToMonitor } from './health-check-client';

const MaintenanceBody = z.strictObject({
  enabled: z.boolean('enabled must be true (pause automatic actions) or false (resume them)'),
  reason: z.string('reason must be text').min(1, 'reason must not be empty').max(500, 'reason must be at most 500 characters').optional(),
});

/** How long the endpoint waits for the monitor to confirm; a busy monitor still applies it before its next action. */
const CONFIRM_TIMEOUT_MS = 10_000;

/**
 * POST /api/clusters/{cluster}/maintenance {"enabled": true|false, "reason"?} — pauses or resumes
 * the health check's automatic actions (failover, fencing, rejoin); checks and reports go on.
 * The flag lives in the cluster monitor's durable state: 200 once the monitor has applied it,
 * 202 if it is busy (events are applied in order, so before anything it does next).
 */
export async function maintenanceHandler(request: HttpRequest, client: df.DurableClient): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = MaintenanceBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, 'enabled, reason');
    const { enabled, reason } = parsed.data;

    const requestId = randomUUID();
    await sendToMonitor(client, cluster.name, { type: 'maintenance', enabled, by: 'http', reason: reason ?? null, requestId });
    const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
    for (;;) {
      const state = await readHealthState(client, cluster.name);
      if (state?.lastRequestId === requestId) return json(200, { cluster: cluster.name, maintenance: state.maintenance });
      if (Date.now() >= deadline) break;
      await sleep(100);
    }
    return json(202, { cluster: cluster.name, requested: { enabled, reason: reason ?? null }, detail: 'the cluster monitor is busy; it applies the change before its next action' });
  });
}

df.app.client.http('setMaintenance', { route: 'clusters/{cluster}/maintenance', methods: ['POST'], authLevel: 'function', handler: maintenanceHandler });
