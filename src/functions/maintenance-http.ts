import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { clusterConfig } from '../app/services';
import { invalidBody, json, readJsonBody } from '../http/problem';
import { handleErrors } from '../http/common';
import { maintenanceApplied, MonitorEvent, monitorInstanceId } from '../domain/health';
import { healthStateOf, instanceStatus, isActive, sendToMonitor } from './health-check-client';

const MaintenanceBody = z.strictObject({
  enabled: z.boolean('enabled must be true (pause automatic actions) or false (resume them)'),
  reason: z.string('reason must be text').min(1, 'reason must not be empty').max(500, 'reason must be at most 500 characters').optional(),
});

/** How long the endpoint waits for the monitor to confirm; a busy monitor still applies it before its next action. */
const CONFIRM_TIMEOUT_MS = 10_000;
/** A monitor that is not running is started again (and sent the request) at most this often. */
const RESTART_INTERVAL_MS = 1_000;

/**
 * POST /api/clusters/{cluster}/maintenance {"enabled": true|false, "reason"?} — pauses or resumes
 * the health check's automatic actions (failover, fencing, rejoin); checks and reports go on.
 * The flag lives in the cluster monitor's durable state: 200 once the monitor has applied it,
 * 202 if it has not confirmed it within 10 s (it is busy: events are applied in order, so before
 * anything it does next — unless the request is lost after the endpoint stopped re-sending it).
 *
 * The request is an event tagged with its own id, and an event can be lost: the monitor continues
 * as new every 100 events, and an event delivered to the ending execution that it had not taken
 * yet goes with it (docs/azure-platform.md item 3); a monitor that failed loses what it had
 * queued. So while it waits the endpoint watches the published state and sends the request again
 * whenever a later execution of the monitor than the one it sent to is running (or the monitor
 * is not running) without having applied it. The monitor applies a request id once.
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
    const event: MonitorEvent = { type: 'maintenance', enabled, by: 'http', reason: reason ?? null, requestId };
    const monitorId = monitorInstanceId(cluster.name);
    let sentTo = healthStateOf(await instanceStatus(client, monitorId, true))?.execution ?? 0;
    await sendToMonitor(client, cluster.name, event);
    let sentAt = Date.now();
    const deadline = sentAt + CONFIRM_TIMEOUT_MS;
    for (;;) {
      const status = await instanceStatus(client, monitorId, true);
      const state = healthStateOf(status);
      if (state && maintenanceApplied(state, requestId)) return json(200, { cluster: cluster.name, maintenance: state.maintenance });
      if (Date.now() >= deadline) break;
      const execution = state?.execution ?? 0;
      const stopped = !isActive(status) && Date.now() - sentAt >= RESTART_INTERVAL_MS;
      if (execution > sentTo || stopped) {
        sentTo = execution;
        await sendToMonitor(client, cluster.name, event);
        sentAt = Date.now();
      }
      await sleep(100);
    }
    return json(202, { cluster: cluster.name, requested: { enabled, reason: reason ?? null }, detail: `the cluster monitor is busy and has not confirmed the change yet; GET /api/clusters/${cluster.name}/health shows when it has (send it again if it does not)` });
  });
}

df.app.client.http('setMaintenance', { route: 'clusters/{cluster}/maintenance', methods: ['POST'], authLevel: 'function', handler: maintenanceHandler });
