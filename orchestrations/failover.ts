import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { activityTask, callActivity, type OutputOf } from '../activities/catalogue';
import type { ClusterConfig } from '../src/config/schema';
import { rankCandidates } from '../src/domain/candidates';
import { nodeNamed, standbysOf, standbysStreamingFrom } from '../src/domain/cluster-view';
import { chooseFailoverCandidate, FailoverChoice, FailoverRefusalCode, FailoverRequest, identifyOldPrimary, lossReference, Outcome } from '../src/domain/failover';
import { clusterIdentity } from '../src/domain/cluster-identity';
import { Lsn } from '../src/domain/lsn';
import { heldNodes } from '../src/domain/maintenance-hold';
import type { NodeInspection } from '../src/domain/node-state';
import { fenceStep, OperationInput, OperationReport, REPOINT_STEP } from '../src/domain/operation';
import { hasCaughtUp } from '../src/domain/switchover-plan';
import { addMilliseconds } from '../src/domain/time';
import { leaseWaitEnds } from '../src/domain/write-lease';
import { promoteOrRollBack } from './promotion';
import { inspectWithHealth } from './inspection';
import { Claimed, exclusively } from './ownership';
import { reported } from './reporting';
import { messageOf, Runbook, Undo } from './runbook';
import { convergenceProblems } from './switchover';
import { runLongVmScript } from './vm-script-run';

export type { FailoverRequest } from '../src/domain/failover';

export const FAILOVER = 'failover';

/** An undo for a change made before promotion; run in reverse order when the failover stops there (docs/invariants.md S3). */

const refusal = <T>(code: FailoverRefusalCode, reason: string): Outcome<T> => ({ ok: false, refusal: { code, reason } });

/** A decision taken without I/O, recorded as a runbook step like the others. */
// eslint-disable-next-line require-yield
const value = function* <T>(result: T): Generator<Task, T, unknown> {
  return result;
};

/**
 * Unplanned failover (docs/design.md §5), run only while it owns the cluster, like a switchover
 * (S5) — by the health check, the HTTP API, or any other trigger:
 *  1. inspect, with the health check's last known primary position (in probe mode a primary the
 *     deciding check could not reach is asked briefly: src/domain/brief-ask.ts); identify the old primary;
 *  2. fence it: out of both pools (no new session reaches it: S2; in probe mode one that did not
 *     answer is left to step 4, which makes sure it takes no write); if it still answers as a
 *     primary, stop it cleanly (its sessions end, its last WAL reaches the standbys) and give the
 *     best standby a bounded time to receive that WAL;
 *  3. re-inspect (without an old primary that did not answer the first look, nothing done since),
 *     rank standbys by received LSN, then replayed LSN, then priority, and refuse a candidate
 *     further behind the last known primary position than maxLagBytesForFailover unless the
 *     request accepts data loss (S7) — a refusal undoes the fence: nothing was promoted;
 *  4. make sure the old primary does not run (S2) — only once the failover is certain to go on:
 *     with policy.fenceByPowerOff power its VM off (it cannot be undone), else stop PostgreSQL on
 *     it through Run Command (a VM that is off or a server that crashed counts as stopped), and
 *     refuse when it may still run; with node agents (`nodeAgent`) the node is asked first (not
 *     when its agent did not answer the first look's probes, nothing done since), and the
 *     power-off is the second line for a node that cannot be asked; then choose again on
 *     positions that can no longer move. An old primary that answers as writable again at any
 *     re-inspection calls an automatic failover off and is stopped first by a manual one. In probe
 *     mode an old primary that could not be asked at all (its VM, agent and Run Command silent) is
 *     powered off and waited out at once, and the promotion follows whichever ends first — waited
 *     out: no promotion before every lease written before the claim has lapsed (the horizon the
 *     claim read, src/domain/write-lease.ts), then a last look (which leaves a silent old primary
 *     out when the first look already came after its lease); without the power-off policy the
 *     lease alone. One seen stopped is not waited out: started again, it serves no lease written
 *     before that start (the start rule, docs/design.md §9);
 *  5. promote, repoint the write pool, make the other standbys follow; report how a power-off
 *     the promotion did not wait for stands;
 *  6. rejoin the old primary if it can be now (stopped cleanly, or its VM runs without a
 *     postmaster); otherwise it stays fenced and the health check rejoins it when it returns.
 */
function* failover(context: OrchestrationContext): Generator<Task, OperationReport, unknown> {
  const input = context.df.getInput() as OperationInput<FailoverRequest>;
  const runbook = new Runbook(context, { operationId: input.operationId, kind: 'failover', cluster: input.cluster.name });
  const report = yield* runbook.guarded(exclusively(context, runbook, input, (claimed) => failoverSteps(context, runbook, input, claimed)));
  return yield* reported(context, input, report);
}

function* failoverSteps(context: OrchestrationContext, runbook: Runbook, { cluster: config, request }: OperationInput<FailoverRequest>, claimed: Claimed): Generator<Task, OperationReport, unknown> {
  const cluster = config.name;
  // Probe mode: when every lease written before the claim has lapsed, and an old primary's agent that runs has fenced it.
  const oldLeaseLapsed = config.loadBalancer.membership === 'probe' ? leaseWaitEnds(claimed, config.policy) : null;

  // 1. Inspect; refusing here changes nothing.
  const firstLookAt = context.df.currentUtcDateTime;
  // Probe mode: a primary the deciding check could not reach is asked briefly (its SQL and its
  // agent). Silent, it is left to the lease (nothing to undo); in pool mode it would be fenced
  // through ARM at once, and a slow one called back after the full look before the decision.
  const askedBriefly = config.loadBalancer.membership === 'probe' && request.unreachablePrimary ? [request.unreachablePrimary] : [];
  const [view, health] = yield* runbook.step('inspect cluster', inspectWithHealth(context, cluster, askedBriefly), ([v, h]) => ({
    reason: request.reason,
    writePool: v.pools.write,
    nodes: v.nodes.map((n) => `${n.name}: ${n.reachable ? n.role : `unreachable (${n.error})`}`),
    lastKnownPrimary: h.state?.primary ?? null,
  }));
  const known = health.state?.primary ?? null;
  const identified = identifyOldPrimary(config, view, known, request);
  if (!identified.ok) return runbook.finish('refused', identified.refusal.reason);
  const start = identified.value;
  const old = start.oldPrimary;
  runbook.update({ oldPrimary: old });
  // Every step that acts refuses a node that holds another database cluster by then (S9). Not the
  // fence of an old primary that did not answer: confirming would wait out its connect timeout on
  // the write path, and taking a dead node out of the pools is what this failover is for.
  const identity = clusterIdentity(view);
  const oldAnswered = nodeNamed(view, old)?.reachable === true;
  const oldIdentity = oldAnswered ? identity : null;

  const undo: Undo[] = [];
  let shutdownCheckpointLsn: Lsn | null = null;
  // A power-off of the old primary that the promotion did not wait for (its lease lapsed first).
  let powerOffUnderWay: Task | null = null;
  let choice: FailoverChoice;
  try {
    // 2. Fence: from here on the old primary takes no new session through the load balancer. In
    // probe mode one that did not answer could not lose its lease now anyway (trying again would
    // cost a connect timeout): step 4 makes sure it takes no write before anything is promoted
    // (its agent, a power-off, or its lease lapsing), and there is nothing to undo.
    const leftAlone = config.loadBalancer.membership === 'probe' && !oldAnswered;
    if (leftAlone) {
      yield* runbook.step(fenceStep(old), value({ tried: false, why: `${old} did not answer`, leftTo: 'the steps that make sure it takes no write before the promotion' }), (r) => r);
    } else {
      yield* runbook.step(fenceStep(old), callActivity(context, 'setPoolRole', { cluster, node: old, role: 'none', identity: oldIdentity }));
      if (start.oldPrimaryInWritePool) undo.push({ name: `${old} back into the write pool`, run: () => callActivity(context, 'setPoolRole', { cluster, node: old, role: 'write', restoring: true, identity }) });
    }
    // A writer that is not a promotion to roll forward to (S7): fenced and stopped, never
    // promoted, and left stopped even if the failover stops here; rejoined after promotion.
    for (const stray of start.strayWriters) {
      yield* runbook.step(`fence ${stray}: writable, but not a promotion to roll forward to`, callActivity(context, 'setPoolRole', { cluster, node: stray, role: 'none', identity }));
      yield* runbook.step(`stop ${stray}`, callActivity(context, 'stopPostgres', { cluster, node: stray, follow: null, identity }), (r) => r);
    }
    // A clean stop ends its sessions and sends its last WAL to the standbys; then the best
    // standby (or the target) gets a bounded time to receive it. Its undo restarts it as the
    // primary. No candidate is chosen yet, so the stop leaves it configured as a standby with the
    // primary_conninfo it had (S8: restarted by anything else it is read-only); rejoin repoints it.
    const waitForStandbys = function* (checkpointLsn: Lsn): Generator<Task, void, unknown> {
      shutdownCheckpointLsn = checkpointLsn;
      const timeoutMs = config.policy.catchupTimeoutSeconds * 1000;
      yield* runbook.step('wait for the standbys', waitForWal(context, config, old, checkpointLsn, request.target, timeoutMs), (r) => r);
    };
    const stopAndWait = function* (): Generator<Task, void, unknown> {
      undo.push({ name: `restart ${old}`, run: () => callActivity(context, 'startPostgres', { cluster, node: old, startAs: 'primary', identity }) });
      const stopped = yield* runbook.step(`stop ${old}`, callActivity(context, 'stopPostgres', { cluster, node: old, follow: null, identity }), (r) => r);
      yield* waitForStandbys(stopped.checkpointLsn);
    };
    if (start.oldPrimaryWritable) yield* stopAndWait();

    // 3. Choose the candidate on a fresh look, within the loss bound (S7). The old primary may
    // have come back meanwhile (S2): an automatic failover is called off, a manual one stops it
    // first; nothing is promoted while it may take writes. Where it may still serve (`oldMayServe`:
    // an automatic failover's looks, and any look after its lease was waited out), standbys that
    // stream from it again mean it is alive, and its agent's failsafe keeps it writable while they
    // do: called off (S2, S6) — though the app cannot reach it.
    let oldLast: NodeInspection | undefined;
    type Look = { leaveOut?: string[]; briefly?: string[]; oldMayServe?: boolean };
    const decide = function* ({ leaveOut = [], briefly = [], oldMayServe = !!request.requireDeadPrimary }: Look = {}): Generator<Task, Outcome<FailoverChoice>, unknown> {
      for (;;) {
        const after = yield* runbook.step('re-inspect', callActivity(context, 'inspectCluster', { cluster, ...(leaveOut.length ? { leaveOut } : {}), ...(briefly.length ? { briefly } : {}) }), (v) =>
          v.nodes.map((n) => `${n.name}: ${n.reachable ? `${n.role} ${n.role === 'primary' ? n.currentLsn : `received ${n.receivedLsn}`}` : leaveOut.includes(n.name) ? 'not asked' : `unreachable (${n.error})`}`),
        );
        const oldNow = nodeNamed(after, old);
        oldLast = oldNow;
        if (oldNow?.reachable && oldNow.role === 'primary') {
          if (request.requireDeadPrimary) return refusal('primary-answers', `${old} answers again as a writable primary (at ${oldNow.currentLsn ?? '?'}): the automatic failover is called off (S2, S6)`);
          if (shutdownCheckpointLsn) return refusal('primary-answers', `${old} was stopped but answers again as a writable primary: something restarted it; the failover is called off (S2)`);
          yield* stopAndWait();
          continue;
        }
        // An old primary the app sees as a standby is no writer, whatever streams from it.
        const oldIsStandby = oldNow?.reachable && oldNow.role === 'standby';
        const streaming = oldMayServe && !shutdownCheckpointLsn && !oldIsStandby ? standbysStreamingFrom(after, config, old) : [];
        if (streaming.length) {
          const then = request.requireDeadPrimary
            ? 'the automatic failover is called off'
            : `stop PostgreSQL on ${old} (or power its VM off) and fail over again (a standby whose wal_receiver_timeout has not run out also shows as streaming: retry after it)`;
          return refusal('standbys-streaming', `${streaming.join(', ')} still stream${streaming.length === 1 ? 's' : ''} from ${old}: it may be alive, and writable if its agent is gone, though the app cannot reach it (S2, S6); ${then}`);
        }
        const reference = lossReference(
          old,
          known,
          { currentLsn: null, shutdownCheckpointLsn },
          standbysOf(after).filter((s) => s.name !== old),
        );
        return chooseFailoverCandidate(config, after, start, reference, request, heldNodes(health.state?.maintenanceHolds));
      }
    };
    // An old primary left alone, and no stray writer: nothing was done since the first look, which
    // it did not answer. The look before the decision leaves it out (asking again would wait out its
    // connect timeout once more), and its agent is not asked again if it was silent (step 4). The
    // look after its lease asks it again, unless the first look already came after that lease.
    const silentJustNow = leftAlone && !start.strayWriters.length;
    let chosen = yield* decide(silentJustNow ? { leaveOut: [old] } : {});
    if (!chosen.ok) return yield* runbook.rollBack(undo, 'refused', chosen.refusal.reason);

    // 4. Certain to go on: the old primary must not run when the candidate is promoted (S2). A
    // clean stop already made sure; else power it off when the policy asks, or make sure
    // PostgreSQL on it is stopped (a VM that is off, or a server that crashed, counts as stopped),
    // and refuse when it may still run. Then choose again on positions that can no longer move.
    if (!shutdownCheckpointLsn && !(oldLast?.reachable && oldLast.role === 'standby')) {
      // A VM ARM powered off cannot answer: the looks after it leave it out (no connect timeout).
      const chooseAgain = function* (look: Look = {}, afterwards = ''): Generator<Task, Outcome<FailoverChoice>, unknown> {
        const again = yield* decide(look);
        return again.ok ? again : refusal(again.refusal.code, `${again.refusal.reason}${afterwards}`);
      };
      const poweredOff = `; ${old}'s VM was powered off by the fence: start it to bring it back`;
      // The look after the lease asks the standbys whether they stream from the old primary (S2,
      // S6: its agent keeps serving only while they all do) and the old primary whether it came
      // back (an automatic failover is then called off, keeping what it wrote). Silent at a first
      // look begun once its lease had lapsed, nothing done since, it is not asked again (a connect
      // timeout): it could only have come back in the moment since, fenced by its agent. Silent at
      // the first look, it is asked briefly (src/domain/brief-ask.ts): back, it answers in
      // milliseconds; still gone, it holds the look for a second instead of the probe timeout.
      const askedAfterLease = silentJustNow && oldLeaseLapsed !== null && oldLeaseLapsed <= firstLookAt;
      const lookAfterLease: Look = { oldMayServe: true, ...(askedAfterLease ? { leaveOut: [old] } : silentJustNow ? { briefly: [old] } : {}) };
      const powerOff = function* (): Generator<Task, Outcome<FailoverChoice>, unknown> {
        yield* runbook.step(`power off ${old}`, callActivity(context, 'fenceVm', { cluster, node: old, identity: oldIdentity }), (r) => r);
        return yield* chooseAgain({ leaveOut: [old], oldMayServe: false }, poweredOff);
      };
      // Probe mode, the old primary out of reach: its agent fences it once its lease lapses and its
      // peers do not confirm it (they no longer stream from it), so waiting the lease out replaces
      // the power-off, or follows one that ARM did not carry out.
      const waitOutLease = function* (lapsed: Date): Generator<Task, Outcome<FailoverChoice>, unknown> {
        if (context.df.currentUtcDateTime < lapsed) {
          yield* runbook.step(`wait out ${old}'s write lease`, waitUntil(context, lapsed), (until) => ({ until, leaseHorizon: claimed.leaseHorizon }));
        }
        return yield* chooseAgain(lookAfterLease);
      };
      // Probe mode, the old primary out of reach and the policy powering it off: the power-off (tens
      // of seconds on Azure) and the lease race; either one makes sure, so the promotion follows
      // the first, and the power-off goes on when the lease won (the second line, for a node whose
      // agent is gone), or is waited out when it failed.
      const powerOffOrWaitOutLease = function* (lapsed: Date): Generator<Task, Outcome<FailoverChoice>, unknown> {
        const { first, powerOff } = yield* runbook.step(`power off ${old} or wait out its write lease, whichever ends first`, firstOfPowerOffAndLease(context, { cluster, node: old, identity: oldIdentity }, lapsed), (r) => ({ ...r.first, leaseHorizon: claimed.leaseHorizon }));
        if (first.fencedBy === 'power-off') return yield* chooseAgain({ leaveOut: [old], oldMayServe: false }, poweredOff);
        if (!powerOff.isFaulted) powerOffUnderWay = powerOff;
        const afterLease = yield* chooseAgain(lookAfterLease);
        if (afterLease.ok) return afterLease;
        // Refused: the power-off may have ended during that look (then what streamed was a receiver
        // not yet timed out: look again without the VM), failed, or still be under way — it may yet
        // take the old primary down, serving or not, and the health check then fails it over.
        // (Not waited on: an activity with retries that lost a Task.any is not safe to wait on again
        // across replays.)
        const state = powerOffSoFar(powerOff);
        if ('powerState' in state) return yield* chooseAgain({ leaveOut: [old], oldMayServe: false }, poweredOff);
        const where = 'failed' in state ? `failed (${state.failed})` : 'is still under way: if it completes it takes the node down, serving or not, and the health check fails it over';
        return refusal(afterLease.refusal.code, `${afterLease.refusal.reason}; ${old}'s power-off ${where}`);
      };
      // With node agents, asking the node comes first (its agent answers in milliseconds, with no
      // ARM call); powering the VM off is the second line, for a node that cannot be asked.
      if (config.policy.fenceByPowerOff && !config.nodeAgent) {
        chosen = yield* powerOff();
      } else {
        const stop = yield* runbook.step(`make sure ${old} is stopped`, callActivity(context, 'ensurePostgresStopped', { cluster, node: old, identity: oldIdentity, ...(config.nodeAgent && silentJustNow && view.silentAgents?.includes(old) ? { agentSilent: true } : {}) }), (r) => r);
        const leaseToWaitOut = stop.nodeAnswered ? null : oldLeaseLapsed;
        if (!stop.stopped && config.policy.fenceByPowerOff && leaseToWaitOut) {
          chosen = yield* powerOffOrWaitOutLease(leaseToWaitOut);
        } else if (!stop.stopped && config.policy.fenceByPowerOff) {
          chosen = yield* powerOff();
        } else if (!stop.stopped && leaseToWaitOut) {
          chosen = yield* waitOutLease(leaseToWaitOut);
        } else if (!stop.stopped) {
          return yield* runbook.rollBack(undo, 'refused',
            `${old} may still be running and could not be stopped: ${stop.how}. Promoting now could leave two writable primaries (S2): stop PostgreSQL on ${old} (or power its VM off) and fail over again, or set policy.fenceByPowerOff`,
          );
        } else if (stop.checkpointLsn) {
          undo.push({ name: `restart ${old}`, run: () => callActivity(context, 'startPostgres', { cluster, node: old, startAs: 'primary', identity }) });
          yield* waitForStandbys(stop.checkpointLsn);
          chosen = yield* decide();
        }
      }
      // A stopped or powered-off old primary started again does not serve the lease it held: its
      // agent serves no lease written before PostgreSQL started (the start rule, docs/design.md §9).
      if (!chosen.ok) return yield* runbook.rollBack(undo, 'refused', chosen.refusal.reason);
    }
    choice = yield* runbook.step('choose candidate', value(chosen.value), (c) => ({
      candidate: c.candidate,
      candidateLsn: c.candidateLsn,
      reference: c.reference,
      lossBytes: c.lossBytes,
      maxLagBytesForFailover: c.bound,
      dataLossAccepted: c.dataLossAccepted,
      alreadyPrimary: c.alreadyPrimary,
    }));
    runbook.update({ newPrimary: choice.candidate });
    if (choice.dataLossAccepted) {
      runbook.problem(`data loss accepted: ${choice.candidate} is ${choice.lossBytes ?? 'an unknown number of'} bytes behind ${choice.reference ? `${choice.reference.source} (${choice.reference.lsn})` : `${old}'s unknown last position`}`);
    }
  } catch (error) {
    return yield* runbook.rollBack(undo, 'aborted', `aborted before promotion: ${messageOf(error)}`);
  }

  // 5. Promote; a failed promotion is looked at before anything is rolled back.
  const candidate = choice.candidate;
  if (!choice.alreadyPrimary) {
    const rolledBack = yield* promoteOrRollBack(context, runbook, config, candidate, undo, identity);
    if (rolledBack) return rolledBack;
  }

  // Past the point of no return: roll forward only, and report what could not be finished.
  // The old primary cannot be a writer by now (stopped, powered off or waited out): the look before
  // the repoint leaves it out, so a dead one costs no connect timeout before the first write.
  yield* runbook.bestEffort(REPOINT_STEP, callActivity(context, 'setPoolRole', { cluster, node: candidate, role: 'write', identity, leaveOut: [old] }));
  claimed.handLeaseTo(candidate);
  // A drain that no rollback could undo (an interrupted switchover whose old primary this failover
  // replaces) paused the application logins, and the pause replicated to the candidate.
  // Idempotent, one statement: after the repoint, so it costs the usual failover nothing.
  const pausedRoles = config.postgres.applicationRoles;
  if (pausedRoles.length) {
    const resumed = yield* runbook.bestEffort('resume application logins', callActivity(context, 'resumeApplicationLogins', { cluster, node: candidate, roles: pausedRoles, identity }));
    if (!resumed) runbook.problem(`application logins may still be paused on ${candidate}: run ALTER ROLE ... LOGIN for ${pausedRoles.join(', ')}`);
  }
  for (const follower of choice.followers) {
    yield* runbook.bestEffort(`${follower} follows ${candidate}`, callActivity(context, 'followPrimary', { cluster, node: follower, primary: candidate, identity }));
  }
  for (const node of choice.unreachable) {
    const outcome = yield* runbook.bestEffort(`rejoin ${node}`, rejoinIfPossible(context, { cluster, node, primary: candidate, identity }), (r) => r);
    if (outcome && !outcome.rejoined) runbook.problem(`${node} is not streaming from ${candidate}: ${outcome.why}`);
  }

  // A power-off the promotion did not wait for: how it ended, if it has. Not waited for: its lease
  // already made sure of the old primary, and waiting would hold the cluster as long as ARM takes.
  if (powerOffUnderWay) {
    const powerOff = yield* runbook.step(`power off ${old}: after the lease`, value(powerOffSoFar(powerOffUnderWay)), (r) => r);
    if ('failed' in powerOff) runbook.problem(`${old}'s power-off failed after the lease had made sure of it (${powerOff.failed}): its VM may still run, fenced by its agent`);
  }

  // 6. The old primary: now if it can be, else when it returns (the health check).
  const rejoined = yield* runbook.bestEffort(`rejoin ${old}`, rejoinIfPossible(context, { cluster, node: old, primary: candidate, identity }, !!shutdownCheckpointLsn), (r) => r);
  if (rejoined?.rejoined) runbook.update({ rejoinMethod: rejoined.method });
  else if (rejoined) runbook.problem(`${old} stays fenced out of the pools: ${rejoined.why}; the health check rejoins it when it returns`);

  const final = yield* runbook.bestEffort('verify topology', callActivity(context, 'inspectCluster', { cluster }));
  if (final) convergenceProblems(final, candidate).forEach((p) => runbook.problem(p));
  return runbook.finish('completed');
}

type FirstFence = { fencedBy: 'power-off'; powerState: string } | { fencedBy: 'lease'; leaseLapsedAt: string; powerOff: string };

/**
 * Powers the old primary's VM off and waits for its lease to lapse at once; returns when the first
 * of them makes sure it takes no write. A power-off that fails leaves the lease to wait out; one
 * still under way when the lease lapses goes on (Durable does not cancel an activity): its task
 * is returned, to be read later (powerOffSoFar).
 */
function* firstOfPowerOffAndLease(context: OrchestrationContext, fence: { cluster: string; node: string; identity: string | null }, lapsed: Date): Generator<Task, { first: FirstFence; powerOff: Task }, unknown> {
  const powerOff = activityTask(context, 'fenceVm', fence);
  const lease = context.df.createTimer(lapsed);
  const first = yield context.df.Task.any([powerOff, lease]);
  if (first === powerOff && !powerOff.isFaulted) {
    lease.cancel();
    return { first: { fencedBy: 'power-off', powerState: (powerOff.result as OutputOf<'fenceVm'>).powerState }, powerOff };
  }
  if (powerOff.isFaulted) yield lease;
  const state = powerOffSoFar(powerOff);
  return { first: { fencedBy: 'lease', leaseLapsedAt: lapsed.toISOString(), powerOff: 'failed' in state ? `failed: ${state.failed}` : 'still under way' }, powerOff };
}

/**
 * Where a power-off scheduled earlier stands, read without waiting on it: a task's state is what
 * the history replayed so far says, the same on every replay.
 */
function powerOffSoFar(powerOff: Task): OutputOf<'fenceVm'> | { failed: string } | { stillUnderWay: true } {
  if (powerOff.isFaulted) return { failed: messageOf(powerOff.result) };
  if (powerOff.isCompleted) return powerOff.result as OutputOf<'fenceVm'>;
  return { stillUnderWay: true };
}

/** A durable timer to `until`: the orchestration is unloaded meanwhile. */
function* waitUntil(context: OrchestrationContext, until: Date): Generator<Task, string, unknown> {
  yield context.df.createTimer(until);
  return until.toISOString();
}

/** After a clean stop: poll (durable timers) until the best standby, or the target, received the shutdown checkpoint, or time runs out. */
function* waitForWal(context: OrchestrationContext, config: ClusterConfig, old: string, checkpointLsn: Lsn, target: string | undefined, timeoutMs: number): Generator<Task, unknown, unknown> {
  const cluster = config.name;
  const deadline = addMilliseconds(context.df.currentUtcDateTime, timeoutMs);
  for (;;) {
    const view = yield* callActivity(context, 'inspectCluster', { cluster });
    const standbys = standbysOf(view).filter((s) => s.name !== old && (!target || s.name === target));
    const caughtUp = standbys.find((s) => hasCaughtUp(s.receivedLsn, checkpointLsn));
    if (caughtUp) return { caughtUp: caughtUp.name, receivedLsn: caughtUp.receivedLsn, checkpointLsn };
    if (context.df.currentUtcDateTime >= deadline) {
      const best = rankCandidates(standbys, config.nodes).at(0);
      return { caughtUp: null, checkpointLsn, best: best ? { node: best.name, receivedLsn: best.receivedLsn } : null, note: `no standby received the shutdown checkpoint within ${timeoutMs / 1000} s` };
    }
    yield context.df.createTimer(addMilliseconds(context.df.currentUtcDateTime, config.policy.pollIntervalMs));
  }
}

type RejoinOutcome = { rejoined: true; method: string } | { rejoined: false; why: string };

/**
 * Rejoin a node to the new primary when that is possible now: it was stopped cleanly, or it
 * answers (a writable one is stopped first), or its VM runs without a postmaster (a crash: rejoin
 * recovers it first). A node whose VM is off, or whose postmaster runs but does not answer
 * (frozen, cut off), is left for the health check.
 */
function* rejoinIfPossible(
  context: OrchestrationContext,
  { cluster, node, primary, identity }: { cluster: string; node: string; primary: string; identity: string | null },
  stoppedCleanly = false,
): Generator<Task, RejoinOutcome, unknown> {
  if (!stoppedCleanly) {
    const view = yield* callActivity(context, 'inspectCluster', { cluster });
    const current = nodeNamed(view, node);
    if (current?.reachable && current.role === 'primary') {
      yield* callActivity(context, 'setPoolRole', { cluster, node, role: 'none', identity });
      yield* callActivity(context, 'stopPostgres', { cluster, node, follow: primary, identity });
    } else if (!current?.reachable) {
      const vm = yield* callActivity(context, 'inspectVm', { cluster, node });
      if (vm.powerState !== 'running') return { rejoined: false, why: `its VM is ${vm.powerState}` };
      if (vm.serverRunning === true) return { rejoined: false, why: 'PostgreSQL runs on it but does not answer (frozen or cut off)' };
      if (vm.serverRunning === null) return { rejoined: false, why: `its VM could not be asked: ${vm.detail ?? 'no detail'}` };
    }
  }
  const rejoined = yield* runLongVmScript(context, { cluster, node, script: 'rejoin', input: { primary }, identity });
  const serving = yield* callActivity(context, 'setReadPoolIfStandby', { cluster, node });
  if (serving.refused) return { rejoined: false, why: `it was rejoined (${rejoined.method}) but ${serving.refused}` };
  return { rejoined: true, method: rejoined.method };
}

df.app.orchestration(FAILOVER, failover);
