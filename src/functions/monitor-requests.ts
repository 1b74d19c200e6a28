import { setTimeout as sleep } from 'node:timers/promises';
import type { DurableClient } from 'durable-functions';
import { HealthState, maintenanceApplied, MonitorEvent, monitorInstanceId } from '../domain/health';
import { healthStateOf, instanceStatus, isActive, sendToMonitor } from './health-check-client';

/** How long a caller waits for the monitor to confirm a request; a busy monitor still applies it before its next action. */
export const CONFIRM_TIMEOUT_MS = 10_000;
/** A monitor that is not running is started again (and sent the request) at most this often. */
const RESTART_INTERVAL_MS = 1_000;

/** A monitor event that carries its own request id: applied once, however often it is sent. */
export type MonitorRequest = Extract<MonitorEvent, { requestId: string }>;

/**
 * Sends a request to the cluster's monitor and waits until its published state shows it applied;
 * returns that state, or undefined when it was not confirmed within `timeoutMs`.
 *
 * An event can be lost: the monitor continues as new every 100 events, and an event delivered to
 * the ending execution that it had not taken yet goes with it (docs/azure-platform.md item 3); a
 * monitor that failed loses what it had queued. So while it waits this watches the published
 * state and sends the request again whenever a later execution of the monitor than the one it
 * sent to is running (or the monitor is not running) without having applied it.
 */
export async function sendUntilApplied(client: DurableClient, cluster: string, request: MonitorRequest, timeoutMs = CONFIRM_TIMEOUT_MS): Promise<HealthState | undefined> {
  const monitorId = monitorInstanceId(cluster);
  let sentTo = healthStateOf(await instanceStatus(client, monitorId, true))?.execution ?? 0;
  await sendToMonitor(client, cluster, request);
  let sentAt = Date.now();
  const deadline = sentAt + timeoutMs;
  for (;;) {
    const status = await instanceStatus(client, monitorId, true);
    const state = healthStateOf(status);
    if (state && maintenanceApplied(state, request.requestId)) return state;
    if (Date.now() >= deadline) return undefined;
    const execution = state?.execution ?? 0;
    const stopped = !isActive(status) && Date.now() - sentAt >= RESTART_INTERVAL_MS;
    if (execution > sentTo || stopped) {
      sentTo = execution;
      await sendToMonitor(client, cluster, request);
      sentAt = Date.now();
    }
    await sleep(100);
  }
}
