import { createHash } from 'node:crypto';
import type { ClusterView } from './cluster-view';
import { nodeNamed } from './cluster-view';
import type { MaintenanceTrigger, ScheduledEventType } from './scheduled-events';

/**
 * A node approved for planned maintenance (a scheduled event, a guest OS shutdown) is taken out of
 * the load balancer's pools before the approval goes out; it must stay out until the maintenance
 * is over, or the health check — which puts every standby that streams back into the read pool
 * (S4) — would send reads to a node that is about to reboot or freeze. The monitor keeps one hold
 * per approved node; while it lasts the health check leaves the node alone (no read pool, no
 * rejoin, no re-point; only a fence, which keeps it out of the pools anyway).
 *
 * When is the maintenance over? The app cannot see the Scheduled Events document (only the VM's
 * agent can), so it judges by what the maintenance does to PostgreSQL:
 * - Reboot, Redeploy, Preempt, Terminate and a guest shutdown take the server down: the hold ends
 *   once the node's PostgreSQL has started again (pg_postmaster_start_time() differs from the one
 *   seen at the approval), so the node is back for good — however long the maintenance took;
 * - Freeze pauses the VM without restarting anything: the hold ends after the announced duration
 *   plus a margin for Azure to start the event after the approval (no bound is documented).
 * Every hold also ends after HOLD_MAX_MS: a maintenance that never restarted the server (the VM was
 * deleted, or restarted while the app could not see it) must not keep a node out forever; keeping a
 * healthy standby out costs only read capacity, while putting a frozen one back stalls its reads.
 */

/** The event type approved, or 'shutdown' (guest OS shutdown). */
export type HeldFor = ScheduledEventType | 'shutdown';

/** Kept small: the monitor publishes one per held node within the 16 KB custom status (status-size.ts). */
export interface MaintenanceHold {
  node: string;
  event: HeldFor;
  /**
   * The node's pg_postmaster_start_time() seen at the approval (else, when it did not answer then,
   * the approval time): a maintenance that restarts the server is over once it started after this.
   */
  since: string;
  /** The hold ends at this time whatever was seen (Freeze: its duration plus margin). */
  until: string;
}

/** Azure starts an approved event "shortly", with no documented bound: a generous margin for a Freeze. */
export const HOLD_AFTER_PAUSE_MARGIN_MS = 10 * 60_000;
/** The longest any hold lasts (a Redeploy moves the VM to another host: minutes, rarely more). */
export const HOLD_MAX_MS = 2 * 60 * 60_000;
/** A Freeze whose event names no duration: Azure's documented typical pause is seconds. */
const DEFAULT_PAUSE_SECONDS = 30;

const ms = (iso: string) => Date.parse(iso);
const iso = (millis: number) => new Date(millis).toISOString();

/** The hold a maintenance approval puts on `node`. */
export function holdForApproval(approval: {
  node: string;
  trigger: MaintenanceTrigger;
  approvedAt: string;
  serverStartedAt: string | null;
  /** The event's DurationInSeconds (-1 or absent: not announced). */
  durationSeconds?: number;
}): MaintenanceHold {
  const event: HeldFor = approval.trigger.kind === 'shutdown' ? 'shutdown' : approval.trigger.eventType;
  const pause = event === 'Freeze' ? Math.max(0, approval.durationSeconds ?? -1) || DEFAULT_PAUSE_SECONDS : null;
  const until = pause === null ? ms(approval.approvedAt) + HOLD_MAX_MS : ms(approval.approvedAt) + Math.min(pause * 1000 + HOLD_AFTER_PAUSE_MARGIN_MS, HOLD_MAX_MS);
  return { node: approval.node, event, since: approval.serverStartedAt ?? approval.approvedAt, until: iso(until) };
}

/**
 * The monitor request id of an approval's hold: the same for every answer to one trigger, so the
 * same event approved again (forwarded twice, asked again) holds the node once — and not again
 * after it came back from that maintenance.
 */
export function holdRequestId(node: string, trigger: MaintenanceTrigger): string {
  const key = trigger.kind === 'scheduled-event' ? `event\n${trigger.eventId.toLowerCase()}` : `shutdown\n${trigger.requestId}`;
  return `hold-${createHash('sha256').update(`${node}\n${key}`).digest('hex').slice(0, 16)}`;
}

/**
 * At most this many nodes are held at once: the holds are published with the monitor's state
 * within the 16 KB custom status. Azure walks planned maintenance one update domain at a time, and
 * a 16-node cluster (MAX_NODES) in the fewest update domains an availability set allows (2) has
 * at most 8 nodes in one.
 */
export const MAX_HOLDS = 8;

/**
 * A newer approval for the same node replaces the older one (one hold per node). Beyond MAX_HOLDS
 * the oldest hold gives way: its node may then be put back before its maintenance is over.
 */
export function addHold(holds: readonly MaintenanceHold[], hold: MaintenanceHold): MaintenanceHold[] {
  return [...holds.filter((h) => h.node !== hold.node), hold].slice(-MAX_HOLDS);
}

/** The nodes held out of the pools now: never a planned switchover's candidate, a failover's only when no other has as much WAL. */
export const heldNodes = (holds: readonly MaintenanceHold[] | undefined): Set<string> => new Set((holds ?? []).map((h) => h.node));

export const holdOn = (holds: readonly MaintenanceHold[] | undefined, node: string): MaintenanceHold | undefined => (holds ?? []).find((h) => h.node === node);

const takesServerDown = (hold: MaintenanceHold) => hold.event !== 'Freeze';

/**
 * Has the node's PostgreSQL started again since the approval? Compared with the start time seen at
 * the approval — the VM's own clock both times, so no skew matters; only when the node did not
 * answer then is its clock compared with the app's.
 */
const restartedSince = (hold: MaintenanceHold, startedAt: string | null): boolean => startedAt !== null && ms(startedAt) > ms(hold.since);

/** The holds still in force after one look at the cluster at `at`, and why the others ended. */
export function reviewHolds(holds: readonly MaintenanceHold[], view: ClusterView, at: string): { holds: MaintenanceHold[]; ended: string[] } {
  const kept: MaintenanceHold[] = [];
  const ended: string[] = [];
  for (const hold of holds) {
    const node = nodeNamed(view, hold.node);
    if (!node) ended.push(`${hold.node} is no longer a node of this cluster: its maintenance hold is dropped`);
    else if (takesServerDown(hold) && node.reachable && restartedSince(hold, node.serverStartedAt)) {
      ended.push(`${hold.node} is back from its maintenance (${hold.event}; PostgreSQL started again at ${node.serverStartedAt}): it may serve again`);
    } else if (ms(at) >= ms(hold.until)) {
      ended.push(
        takesServerDown(hold)
          ? `${hold.node}'s maintenance hold (${hold.event}) expired without its PostgreSQL restarting: it is judged like any other node again`
          : `${hold.node}'s ${hold.event} is over: it may serve again`,
      );
    } else kept.push(hold);
  }
  return { holds: kept, ended };
}

export const describeHold = (hold: MaintenanceHold): string =>
  `${hold.node} is held out of the pools for its maintenance (${hold.event}) until ${takesServerDown(hold) ? `its PostgreSQL has restarted (at the latest ${hold.until})` : hold.until}: left alone`;
