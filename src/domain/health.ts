import type { LeaseDecision } from './write-lease';
import type { ClusterConfig } from '../config/schema';
import { ClusterView, describeOtherSteps, nodeNamed, primariesOf, standbysOf, standbysStreamingFrom, streamsFrom } from './cluster-view';
import { furthestLsn } from './candidates';
import { bytesBetween, Lsn } from './lsn';
import { addHold, describeHold, holdOn, MaintenanceHold, reviewHolds } from './maintenance-hold';
import { NodeInspection, ReachableNode } from './node-state';
import { placeStandby } from './standby-placement';
import { clipText } from './status-size';

/** How early a scheduled check may fire and still count as a full grace period. */
export const GRACE_JITTER_TOLERANCE_MS = 250;

/**
 * The timer health check's decisions (docs/design.md §5; docs/invariants.md S2, S6): pure functions
 * from the durable state and one observation of the cluster to a verdict, the next state and at
 * most one action. No I/O and no clock: every time comes from the observation, so the cluster
 * monitor orchestration can replay them.
 */

/** The primary as the last healthy check saw it: the reference for the loss bound (S7). */
export interface KnownPrimary {
  name: string;
  lsn: Lsn | null;
  timeline: number | null;
  at: string;
}

/** A former primary (or fenced second writer) that must come back as a standby of the current primary. */
export interface PendingRejoin {
  node: string;
  /** The primary it should stream from. */
  primary: string;
  since: string;
  attempts: number;
  lastAttemptAt: string | null;
  /** A standby that could not simply follow the primary (not a former primary): rejoined the same way. */
  standby?: true;
}

export interface MaintenanceState {
  enabled: boolean;
  changedAt: string | null;
  changedBy: string | null;
  reason: string | null;
  /** When the request in force was made (by its sender's clock): an older request arriving later does not override it. */
  requestedAt?: string | null;
}

export type HealthVerdictKind =
  | 'healthy'
  | 'degraded'
  | 'operation-running'
  | 'primary-failing'
  | 'unreachable-but-streaming'
  | 'primary-dead'
  | 'split-brain'
  | 'no-primary';

export type HealthAction =
  /** `unreachablePrimary`: the primary this deciding check could not reach; in probe mode the failover's first look asks it only briefly (src/domain/brief-ask.ts). */
  | { kind: 'failover'; reason: string; unreachablePrimary?: string }
  /** Out of both pools and stopped (or powered off): a writable node that is not the write pool's primary. */
  | { kind: 'fence'; node: string; reason: string }
  | { kind: 'rejoin'; node: string; primary: string; reason: string }
  /** A running standby on the primary's timeline that streams from elsewhere (or not at all) follows the primary. */
  | { kind: 'repoint'; node: string; primary: string; reason: string }
  | { kind: 'read-pool'; node: string; reason: string };

/** What one check concluded, as the monitor publishes it. */
export interface CheckRecord {
  at: string;
  verdict: HealthVerdictKind;
  summary: string;
  findings: string[];
  action: HealthAction | null;
  /** The action the verdict called for but that was not taken, and why. */
  suppressed: { action: HealthAction; because: string } | null;
}

export interface ActionRecord {
  kind: HealthAction['kind'];
  node?: string;
  at: string;
  ok: boolean;
  detail: string;
}

/** Everything that must outlive one timer run (docs/design.md §5), held by the cluster monitor. */
export interface HealthState {
  cluster: string;
  maintenance: MaintenanceState;
  /** Consecutive checks that could not reach the write pool's primary. */
  consecutiveFailures: number;
  /** When (observation time) the current run of failures began. */
  failingSince: string | null;
  /** Updated on every check that finds the write pool's primary healthy. */
  primary: KnownPrimary | null;
  pendingRejoin: PendingRejoin[];
  /** Nodes approved for planned maintenance: out of the pools until it is over (src/domain/maintenance-hold.ts). */
  maintenanceHolds: MaintenanceHold[];
  /** The failingSince of the outage an automatic failover was already started for (one attempt per outage). */
  autoFailoverFor: string | null;
  lastOperation: { operationId: string; kind: string; startedAt: string; reason: string; started: boolean } | null;
  lastAction: ActionRecord | null;
  /** When the monitor last finished an action; observations begun before it are stale. */
  actedAt: string | null;
  /** Observations received, of which `staleObservations` were begun before the last action and ignored. */
  observations: number;
  staleObservations: number;
  lastCheck: CheckRecord | null;
  /** The id of the last maintenance request applied (the HTTP trigger waits for it). */
  lastRequestId: string | null;
  /**
   * The ids of the last RECENT_REQUEST_IDS maintenance requests applied, oldest first: a request
   * sent again (the endpoint re-sends one that an execution's end may have lost) is applied once.
   */
  recentRequestIds: string[];
  /**
   * Which execution of the monitor published this state: one more at every start (continueAsNew
   * or a restart). An event sent to an earlier execution and not confirmed may have been lost with
   * it (docs/azure-platform.md item 3): the maintenance endpoint then sends it again.
   */
  execution: number;
}

/** One look at the cluster by the timer trigger. */
export interface HealthObservation {
  /** When the probe began (ISO 8601). */
  startedAt: string;
  view: ClusterView;
  /** The operation running through the cluster's single-flight gate, if any. */
  operation: { operationId: string; kind: string } | null;
  /** Nodes a rejoin is already running for. */
  rejoining: string[];
  /** VM power state ("running", "stopped", "deallocated", ...) of the nodes the app could not reach. */
  powerStates: Record<string, string>;
  /** Probe mode: what this look did with the write lease (src/domain/write-lease.ts). */
  lease?: LeaseDecision & { done: boolean };
}

export interface HealthAssessment {
  check: CheckRecord;
  /** The state after this observation (before any action's outcome is recorded). */
  state: HealthState;
}

export type HealthPolicyInput = Pick<ClusterConfig, 'nodes' | 'policy'>;

/** After a rejoin attempt that did not bring the node back, wait this long (doubling, capped) before the next. */
export const REJOIN_RETRY_MS = 60_000;
export const REJOIN_RETRY_MAX_MS = 15 * 60_000;

export function initialHealthState(cluster: string): HealthState {
  return {
    cluster,
    maintenance: { enabled: false, changedAt: null, changedBy: null, reason: null },
    consecutiveFailures: 0,
    failingSince: null,
    primary: null,
    pendingRejoin: [],
    maintenanceHolds: [],
    autoFailoverFor: null,
    lastOperation: null,
    lastAction: null,
    actedAt: null,
    observations: 0,
    staleObservations: 0,
    lastCheck: null,
    lastRequestId: null,
    recentRequestIds: [],
    execution: 0,
  };
}

/** How many applied maintenance request ids the monitor remembers (a re-send comes within seconds). */
export const RECENT_REQUEST_IDS = 8;
const REQUEST_ID_CHARS = 64;

const ms = (iso: string) => Date.parse(iso);
const seconds = (millis: number) => Math.round(millis / 100) / 10;

/** An observation begun before the monitor's last action finished describes a cluster that no longer exists. */
export function isStale(state: HealthState, observation: HealthObservation): boolean {
  return state.actedAt !== null && ms(observation.startedAt) < ms(state.actedAt);
}

export function rejoinRetryDelayMs(attempts: number): number {
  if (attempts <= 0) return 0;
  return Math.min(REJOIN_RETRY_MS * 2 ** (attempts - 1), REJOIN_RETRY_MAX_MS);
}

function rejoinDue(pending: PendingRejoin, at: string): boolean {
  if (pending.lastAttemptAt === null) return true;
  return ms(at) - ms(pending.lastAttemptAt) >= rejoinRetryDelayMs(pending.attempts);
}

const bound = (policy: HealthPolicyInput) => policy.policy.maxLagBytesForFailover;
const describeNode = (node: NodeInspection | undefined) => (!node ? 'missing' : node.reachable ? node.role : `unreachable (${node.error})`);

/**
 * Folds one observation into the state and decides. In order of precedence:
 * an operation running → watch only; a second writable node beside the write pool's primary →
 * fence it (S2) before anything else; the write pool's primary healthy → update the last known
 * primary and LSN, rejoin former primaries, report broken or lagging replication; the primary
 * unreachable → count, and fail over only after `failureThreshold` checks AND `graceSeconds` AND
 * when no reachable standby may still stream from it (S6, `standbysStreamingFrom`). Maintenance,
 * autoFailover off, or an automatic failover already started for this outage suppress the action;
 * the verdict is still reported.
 */
export function healthVerdict(policy: HealthPolicyInput, state: HealthState, observation: HealthObservation): HealthAssessment {
  const at = observation.startedAt;
  const holds = reviewHolds(state.maintenanceHolds ?? [], observation.view, at);
  const base: HealthState = { ...state, observations: state.observations + 1, maintenanceHolds: holds.holds };
  const decided = decide(policy, base, observation);
  const check: CheckRecord = { at, ...decided.check, findings: [...holds.ended, ...decided.check.findings], suppressed: null };
  if (check.action) {
    const because = suppression(policy, decided.state, check.action);
    if (because) {
      check.suppressed = { action: check.action, because };
      check.action = null;
    }
  }
  return { check, state: { ...decided.state, lastCheck: check } };
}

function suppression(policy: HealthPolicyInput, state: HealthState, action: HealthAction): string | null {
  if (state.maintenance.enabled) return `maintenance mode is on${state.maintenance.changedBy ? ` (set by ${state.maintenance.changedBy}${state.maintenance.reason ? `: ${state.maintenance.reason}` : ''})` : ''}: the health check reports but never acts`;
  if (action.kind !== 'failover') return null;
  if (!policy.policy.autoFailover) return 'policy.autoFailover is off: fail over manually (POST .../failover)';
  if (state.autoFailoverFor !== null && state.autoFailoverFor === state.failingSince) {
    const op = state.lastOperation;
    return `an automatic failover was already started for this outage${op ? ` (${op.operationId})` : ''}; it is not repeated — see its report, or fail over manually`;
  }
  return null;
}

type Decision = { check: Omit<CheckRecord, 'at' | 'suppressed'>; state: HealthState };

function decide(policy: HealthPolicyInput, state: HealthState, observation: HealthObservation): Decision {
  const { view } = observation;

  if (observation.operation) {
    const { kind, operationId } = observation.operation;
    return {
      check: { verdict: 'operation-running', summary: `${kind} ${operationId} is running: the health check only watches`, findings: [], action: null },
      // The count stands still: a failover refused for this outage is not started again after it.
      state,
    };
  }

  const writePool = view.pools.write;
  if (writePool.length > 1) return severalInWritePool(state, view);
  // An empty write pool (an interrupted fence or failover): the writable node on the highest
  // timeline is the primary, not a stale last known one that a failover may have replaced.
  const expectedName = writePool.length === 1 ? writePool[0] : state.primary ? (newestWriter(view, state.primary.name)?.name ?? state.primary.name) : null;
  if (expectedName === null) {
    return {
      check: { verdict: 'no-primary', summary: 'the write pool is empty and no primary has been seen yet: nothing to watch', findings: reachableSummary(view), action: null },
      state,
    };
  }
  const expected = nodeNamed(view, expectedName);
  if (!expected) {
    return {
      check: { verdict: 'no-primary', summary: `the write pool holds ${expectedName}, which is not a node of this cluster: an operator must repair the pools`, findings: reachableSummary(view), action: null },
      state,
    };
  }
  const strays = view.nodes.filter((n): n is ReachableNode => n.name !== expectedName && n.reachable && n.role === 'primary');

  if (expected.reachable && expected.role === 'primary') {
    // Never fence (and later pg_rewind) a writer on a NEWER timeline than the write pool's
    // primary: it is the result of a promotion the pools have not caught up with.
    const newer = strays.filter((s) => s.timeline > expected.timeline);
    if (newer.length) {
      return {
        check: {
          verdict: 'split-brain',
          summary: `${newer.map((n) => `${n.name} (timeline ${n.timeline})`).join(', ')} writable on a newer timeline than ${expectedName} (timeline ${expected.timeline}), the write pool's primary: an interrupted failover? Neither is fenced automatically; roll forward by hand with a failover to ${newer[0].name} (S2)`,
          findings: strays.map((n) => `${n.name} is writable (timeline ${n.timeline}) but not in the write pool`),
          action: null,
        },
        state,
      };
    }
    return healthyPrimary(policy, state, observation, expected, strays);
  }

  if (expected.reachable && expected.role === 'standby') {
    return {
      check: {
        verdict: 'no-primary',
        summary: `the write pool holds ${expectedName}, which is a standby: writes through the load balancer fail (S4); an operator must repair the pools`,
        findings: [...strays.map((s) => `${s.name} is writable but not in the write pool`)],
        action: null,
      },
      state,
    };
  }
  return failingPrimary(policy, state, observation, expectedName, expected, strays);
}

/**
 * The writable node to trust when the pools do not say: the one on the highest timeline (a
 * promotion always starts a new one), the last known primary among equals; null when no node is
 * writable or the choice is still ambiguous.
 */
function newestWriter(view: ClusterView, trusted: string | null, among: ReachableNode[] = primariesOf(view)): ReachableNode | null {
  if (among.length === 0) return null;
  const top = Math.max(...among.map((n) => n.timeline));
  const newest = among.filter((n) => n.timeline === top);
  if (newest.length === 1) return newest[0];
  return newest.find((n) => n.name === trusted) ?? null;
}

function severalInWritePool(state: HealthState, view: ClusterView): Decision {
  const members = view.pools.write.map((name) => nodeNamed(view, name));
  const writable = members.filter((n): n is ReachableNode => !!n && n.reachable && n.role === 'primary');
  const summary = `the write pool holds ${view.pools.write.join(', ')}${writable.length > 1 ? `, and ${writable.map((n) => n.name).join(' and ')} are all writable (S2)` : ''}`;
  // Keep the writer on the highest timeline (the last known primary among equals); fence another.
  const keep = writable.length > 1 ? newestWriter(view, state.primary?.name ?? null, writable) : null;
  const intruder = keep ? writable.find((n) => n.name !== keep.name && n.timeline <= keep.timeline) : undefined;
  return {
    check: {
      verdict: writable.length > 1 ? 'split-brain' : 'degraded',
      summary,
      findings: members.map((n, i) => `${view.pools.write[i]} in the write pool is ${describeNode(n)}`),
      action:
        keep && intruder
          ? { kind: 'fence', node: intruder.name, reason: `${intruder.name} (timeline ${intruder.timeline}) is writable in the write pool beside ${keep.name} (timeline ${keep.timeline})${keep.name === state.primary?.name ? ', the last known primary' : ', on the newer timeline'}` }
          : null,
    },
    state,
  };
}

function healthyPrimary(policy: HealthPolicyInput, state: HealthState, observation: HealthObservation, primary: ReachableNode, strays: ReachableNode[]): Decision {
  const { view } = observation;
  const at = observation.startedAt;
  const holds = state.maintenanceHolds;
  let pending = state.pendingRejoin.filter((p) => p.node !== primary.name);
  // A primary change (a failover or switchover) leaves the former primary to come back as a standby.
  if (state.primary && state.primary.name !== primary.name && !pending.some((p) => p.node === state.primary!.name)) {
    pending = [...pending, { node: state.primary.name, primary: primary.name, since: at, attempts: 0, lastAttemptAt: null }];
  }
  for (const stray of strays) {
    if (!pending.some((p) => p.node === stray.name)) pending = [...pending, { node: stray.name, primary: primary.name, since: at, attempts: 0, lastAttemptAt: null }];
  }
  pending = pending.map((p) => (p.primary === primary.name ? p : { ...p, primary: primary.name, attempts: 0, lastAttemptAt: null }));

  // S4: where every other standby stands. One that may hold WAL past the fork point joins the
  // rejoins (with their back-off); nodes held for maintenance or being rejoined are left alone.
  const placements = new Map(standbysOf(view).map((node) => [node.name, placeStandby(node, primary)] as const));
  for (const [node, placement] of placements) {
    if (placement.kind !== 'rejoin' || pending.some((p) => p.node === node) || holdOn(holds, node) || observation.rejoining.includes(node)) continue;
    pending = [...pending, { node, primary: primary.name, since: at, attempts: 0, lastAttemptAt: null, standby: true }];
  }

  const findings: string[] = [];
  let action: HealthAction | null = null;
  const propose = (candidate: HealthAction) => {
    action ??= candidate;
  };

  // S2 first: a second writable node is fenced before anything else is considered.
  for (const stray of strays) {
    findings.push(`${stray.name} is writable (timeline ${stray.timeline}) but is not in the write pool: a second primary`);
    propose({ kind: 'fence', node: stray.name, reason: `${stray.name} is writable beside ${primary.name}, the write pool's primary: fence it, then rejoin it as a standby` });
  }

  const settled: string[] = [];
  for (const entry of pending) {
    const node = nodeNamed(view, entry.node);
    if (!node) {
      settled.push(entry.node); // no longer a node of this cluster
      continue;
    }
    if (strays.some((s) => s.name === entry.node)) continue;
    const what = entry.standby ? 'standby to rejoin' : 'former primary';
    const hold = holdOn(holds, node.name);
    if (hold) {
      findings.push(describeHold(hold));
      continue;
    }
    if (node.reachable && streamsFrom(node, primary)) {
      if (!view.pools.read.includes(node.name)) propose({ kind: 'read-pool', node: node.name, reason: `${node.name} streams from ${primary.name} again: serve reads` });
      else settled.push(node.name);
      continue;
    }
    if (observation.rejoining.includes(node.name)) {
      findings.push(`${node.name} is being rejoined as a standby of ${primary.name}`);
      continue;
    }
    // Only a VM known to be off waits; one whose power state could not be read ('unknown': ARM
    // slow or down) is tried, and the rejoin asks the node itself first.
    const power = observation.powerStates[node.name];
    if (!node.reachable && power !== undefined && power !== 'running' && power !== 'unknown') {
      findings.push(`${node.name} (${what}) waits to be rejoined: its VM is ${power}`);
      continue;
    }
    if (!rejoinDue(entry, observation.startedAt)) {
      findings.push(`${node.name} (${what}) is not streaming yet; the next rejoin attempt is due ${seconds(rejoinRetryDelayMs(entry.attempts) - (ms(at) - ms(entry.lastAttemptAt!)))} s from now`);
      continue;
    }
    const placement = entry.standby ? placements.get(node.name) : undefined;
    const reason = placement?.kind === 'rejoin' ? placement.why : `${node.name} (${what}) is ${describeNode(node)} and does not stream from ${primary.name}: rejoin it (follow, else pg_rewind, else pg_basebackup)`;
    // A node to rejoin is a finding too: a check that calls for a rejoin is never "healthy".
    findings.push(reason);
    propose({ kind: 'rejoin', node: node.name, primary: primary.name, reason });
  }
  pending = pending.filter((p) => !settled.includes(p.node));

  for (const node of view.nodes) {
    if (node.name === primary.name || strays.some((s) => s.name === node.name) || pending.some((p) => p.node === node.name)) continue;
    if (!node.reachable) {
      findings.push(`${node.name} is unreachable: ${node.error}`);
      continue;
    }
    const hold = holdOn(holds, node.name);
    if (hold) {
      findings.push(describeHold(hold));
      continue;
    }
    const placement = placements.get(node.name);
    if (!placement || observation.rejoining.includes(node.name)) {
      findings.push(`${node.name} is being rejoined as a standby of ${primary.name}`);
      continue;
    }
    if (placement.kind !== 'in-place') {
      findings.push(placement.why);
      if (placement.kind === 'repoint') propose({ kind: 'repoint', node: node.name, primary: primary.name, reason: placement.why });
      continue;
    }
    const position = furthestLsn(node);
    let lagging = false;
    if (primary.currentLsn && position) {
      const lag = bytesBetween(position, primary.currentLsn);
      lagging = lag > bound(policy);
      if (lagging) findings.push(`${node.name} is ${lag} bytes behind ${primary.name}, more than maxLagBytesForFailover (${bound(policy)}): a failover to it now would be refused`);
    }
    // S4: a standby taken out of the read pool (a VM power event, a maintenance hold that ended)
    // comes back once it streams again within the bound; one held for maintenance was left above.
    if (!view.pools.read.includes(node.name)) {
      if (lagging || !position) findings.push(`${node.name} streams but is not in the read pool (not put back while it lags)`);
      else {
        findings.push(`${node.name} streams but is not in the read pool: put it back`);
        propose({ kind: 'read-pool', node: node.name, reason: `${node.name} streams from ${primary.name} within the lag bound but is not in the read pool: serve reads` });
      }
    }
  }
  if (view.pools.read.includes(primary.name)) findings.push(`${primary.name} (the primary) is also in the read pool`);
  findings.push(...(view.agentsWithOtherSteps ?? []).map(describeOtherSteps));

  const next: HealthState = {
    ...state,
    consecutiveFailures: 0,
    failingSince: null,
    autoFailoverFor: null,
    primary: { name: primary.name, lsn: primary.currentLsn, timeline: primary.timeline, at },
    pendingRejoin: pending,
  };
  const verdict: HealthVerdictKind = strays.length ? 'split-brain' : findings.length ? 'degraded' : 'healthy';
  const summary = strays.length
    ? `${strays.map((s) => s.name).join(', ')} writable beside ${primary.name} (S2)`
    : `${primary.name} is primary at ${primary.currentLsn ?? '?'} (timeline ${primary.timeline})${findings.length ? `; ${findings.length} finding(s)` : ', every standby streams from it'}`;
  return { check: { verdict, summary, findings, action }, state: next };
}

function failingPrimary(
  policy: HealthPolicyInput,
  state: HealthState,
  observation: HealthObservation,
  expectedName: string,
  expected: NodeInspection,
  strays: ReachableNode[],
): Decision {
  const { view } = observation;
  const at = observation.startedAt;
  const { failureThreshold, graceSeconds } = policy.policy.health;
  const failures = state.consecutiveFailures + 1;
  const failingSince = state.failingSince ?? at;
  const failingMs = ms(at) - ms(failingSince);
  const next: HealthState = { ...state, consecutiveFailures: failures, failingSince };
  const why = describeNode(expected);
  const since = `${failures} check(s) over ${seconds(failingMs)} s`;

  if (strays.length) {
    // Only a writer on a newer timeline than the last known primary's is a promotion to roll forward to (S7).
    const knownTimeline = state.primary?.timeline ?? null;
    const newer = newestWriter(view, null, strays.filter((s) => knownTimeline !== null && s.timeline > knownTimeline));
    const advice = newer
      ? `an interrupted failover? Roll forward with a manual failover to ${newer.name} (timeline ${newer.timeline})`
      : `none of them is on a newer timeline than the last known primary's (${knownTimeline ?? 'unknown'}): do not fail over to them; fence them and resolve by hand`;
    return {
      check: {
        verdict: 'split-brain',
        summary: `${expectedName} (write pool) is ${why} while ${strays.map((s) => s.name).join(', ')} is writable: ${advice}`,
        findings: strays.map((s) => `${s.name} is writable (timeline ${s.timeline}) but not in the write pool`),
        action: null,
      },
      state: next,
    };
  }

  const standbys = view.nodes.filter((n): n is ReachableNode => n.name !== expectedName && n.reachable && n.role === 'standby');
  const streaming = standbysStreamingFrom(view, policy, expectedName);
  if (streaming.length) {
    return {
      check: {
        verdict: 'unreachable-but-streaming',
        summary: `${expectedName} does not answer the app (${expected.reachable ? expected.role : expected.error}) but ${streaming.join(', ')} still stream${streaming.length === 1 ? 's' : ''} from it: no failover (S6)`,
        findings: [`${expectedName} unreachable for ${since}`],
        action: null,
      },
      state: next,
    };
  }

  const countMet = failures >= failureThreshold;
  // Checks fire on a schedule with some jitter: a grace that is a whole number of intervals must
  // not miss by a few milliseconds and cost a whole extra interval of outage.
  const graceMet = failingMs + GRACE_JITTER_TOLERANCE_MS >= graceSeconds * 1000;
  if (!countMet || !graceMet) {
    const waiting = [!countMet ? `${failureThreshold - failures} more failed check(s)` : null, !graceMet ? `${seconds(graceSeconds * 1000 - failingMs)} s more of grace` : null].filter(Boolean).join(' and ');
    return {
      check: {
        verdict: 'primary-failing',
        summary: `${expectedName} is ${why} for ${since} and no standby streams from it; failover after ${waiting}`,
        findings: standbys.length ? [] : ['no standby is reachable either'],
        action: null,
      },
      state: next,
    };
  }

  const configOf = new Map(policy.nodes.map((n) => [n.name, n]));
  const candidates = standbys.filter((s) => !configOf.get(s.name)?.noFailover);
  const deadSummary = `${expectedName} is ${why} for ${since} (threshold ${failureThreshold} checks, grace ${graceSeconds} s) and no reachable standby streams from it`;
  if (candidates.length === 0) {
    return {
      check: { verdict: 'primary-dead', summary: `${deadSummary}; but no promotable standby is reachable: nothing to fail over to`, findings: reachableSummary(view), action: null },
      state: next,
    };
  }
  return {
    check: {
      verdict: 'primary-dead',
      summary: deadSummary,
      findings: [`promotable: ${candidates.map((c) => c.name).join(', ')}`],
      action: { kind: 'failover', reason: `health check: ${deadSummary}`, ...(expected.reachable ? {} : { unreachablePrimary: expectedName }) },
    },
    state: next,
  };
}

function reachableSummary(view: ClusterView): string[] {
  return view.nodes.map((n) => `${n.name} is ${describeNode(n)}`);
}

// ------------------------------------------------------------------------- recording outcomes

/** Whether the maintenance request with this id has been applied (among the last RECENT_REQUEST_IDS). */
export function maintenanceApplied(state: HealthState, requestId: string): boolean {
  const id = clipText(requestId, REQUEST_ID_CHARS);
  return state.lastRequestId === id || (state.recentRequestIds ?? []).includes(id);
}

/**
 * Applies a maintenance request; one already applied (the same request sent again) changes nothing.
 * Its sender re-sends until it sees it applied (src/functions/monitor-requests.ts), so a request can
 * arrive after a newer one: a request made before the one in force is recorded as handled (its
 * sender stops) but overrides nothing — the newest request wins, whatever the arrival order.
 */
export function setMaintenance(state: HealthState, change: { enabled: boolean; at: string; by: string; reason?: string | null; requestId?: string | null; requestedAt?: string | null }): HealthState {
  const requestId = change.requestId ? clipText(change.requestId, REQUEST_ID_CHARS) : null;
  if (requestId && maintenanceApplied(state, requestId)) return state;
  const recent = state.recentRequestIds ?? [];
  const inForce = state.maintenance.requestedAt;
  const superseded = !!change.requestedAt && !!inForce && Date.parse(change.requestedAt) < Date.parse(inForce);
  return {
    ...state,
    maintenance: superseded
      ? state.maintenance
      : { enabled: change.enabled, changedAt: change.at, changedBy: clipText(change.by, 100), reason: change.reason == null ? null : clipText(change.reason, 500), requestedAt: change.requestedAt ?? null },
    lastRequestId: requestId ?? state.lastRequestId,
    recentRequestIds: requestId ? [...recent, requestId].slice(-RECENT_REQUEST_IDS) : recent,
  };
}

export function recordStale(state: HealthState): HealthState {
  return { ...state, observations: state.observations + 1, staleObservations: state.staleObservations + 1 };
}

/** After the monitor acted: what it did, when it finished (later observations only count), and what follows from it. */
export function recordAction(
  state: HealthState,
  action: HealthAction,
  outcome: { at: string; ok: boolean; detail: string; operation?: { operationId: string; started: boolean } },
): HealthState {
  const record: ActionRecord = { kind: action.kind, ...('node' in action ? { node: action.node } : {}), at: outcome.at, ok: outcome.ok, detail: outcome.detail };
  let next: HealthState = { ...state, lastAction: record, actedAt: outcome.at };
  switch (action.kind) {
    case 'failover':
      next = {
        ...next,
        autoFailoverFor: state.failingSince,
        ...(outcome.operation ? { lastOperation: { operationId: outcome.operation.operationId, kind: 'failover', startedAt: outcome.at, reason: action.reason, started: outcome.operation.started } } : {}),
      };
      break;
    case 'rejoin':
      next = { ...next, pendingRejoin: state.pendingRejoin.map((p) => (p.node === action.node ? { ...p, attempts: p.attempts + 1, lastAttemptAt: outcome.at } : p)) };
      break;
    case 'read-pool':
      if (outcome.ok) next = { ...next, pendingRejoin: state.pendingRejoin.filter((p) => p.node !== action.node) };
      break;
    case 'fence':
    case 'repoint':
      break;
  }
  return next;
}

/**
 * A standby the re-point could not bring to stream from the primary (its WAL may be past the fork
 * point): from now on it is rejoined like a former primary — follow, else pg_rewind, else
 * pg_basebackup — with the rejoins' back-off.
 */
export function rejoinInstead(state: HealthState, node: string, primary: string, at: string): HealthState {
  if (state.pendingRejoin.some((p) => p.node === node)) return state;
  return { ...state, pendingRejoin: [...state.pendingRejoin, { node, primary, since: at, attempts: 0, lastAttemptAt: null, standby: true }] };
}

/** Records a maintenance approval's hold; the same request sent again (the endpoint re-sends until confirmed) is applied once. */
export function holdForMaintenance(state: HealthState, hold: MaintenanceHold, requestId: string): HealthState {
  const id = clipText(requestId, REQUEST_ID_CHARS);
  if (maintenanceApplied(state, id)) return state;
  return {
    ...state,
    maintenanceHolds: addHold(state.maintenanceHolds ?? [], hold),
    lastRequestId: id,
    recentRequestIds: [...(state.recentRequestIds ?? []), id].slice(-RECENT_REQUEST_IDS),
  };
}

// ------------------------------------------------------------------------- the monitor's names

/** The eternal orchestration that holds a cluster's HealthState (one instance per cluster). */
export const CLUSTER_MONITOR = 'clusterMonitor';
export const monitorInstanceId = (cluster: string): string => `cluster-monitor-${cluster}`;
/** The one external event name the monitor waits for (one waiter at a time: no event is lost to a stale waiter). */
export const MONITOR_EVENT = 'monitor';

/** Brings a returning former primary back as a standby (one instance per node at a time). */
export const REJOIN_NODE = 'rejoinReturningNode';
export const rejoinInstanceId = (cluster: string, node: string): string => `cluster-rejoin-${cluster}-${node}`;

export type MonitorEvent =
  | { type: 'observation'; observation: HealthObservation; config: ClusterConfig }
  | { type: 'maintenance'; enabled: boolean; by: string; reason: string | null; requestId: string; requestedAt?: string }
  /** A node approved for planned maintenance: kept out of the pools until it is over. */
  | { type: 'maintenance-hold'; hold: MaintenanceHold; requestId: string };

export interface MonitorInput {
  cluster: string;
  state: HealthState;
}

/** What the rejoin orchestration is given. */
export interface RejoinInput {
  cluster: ClusterConfig;
  node: string;
  /** The primary it should stream from (the orchestration re-checks which node that is). */
  primary: string;
  reason: string;
}
