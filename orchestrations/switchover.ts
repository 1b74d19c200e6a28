import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { activityTask, callActivity } from '../activities/catalogue';
import { ClusterView, nodeNamed, streamsFrom } from '../src/domain/cluster-view';
import { Lsn } from '../src/domain/lsn';
import { clusterIdentity } from '../src/domain/cluster-identity';
import { heldNodes } from '../src/domain/maintenance-hold';
import { DRAIN_STEP, OperationInput, OperationReport, REPOINT_STEP } from '../src/domain/operation';
import { isReadyToPromote, planSwitchover, SwitchoverPlan, SwitchoverRequest } from '../src/domain/switchover-plan';
import { addMilliseconds } from '../src/domain/time';
import { promoteOrRollBack } from './promotion';
import { inspectWithHealth } from './inspection';
import { type Claimed, exclusively } from './ownership';
import { reported } from './reporting';
import { messageOf, Runbook, Undo } from './runbook';
import { runLongVmScript } from './vm-script-run';

export const SWITCHOVER = 'switchover';

export interface SwitchoverInput extends SwitchoverRequest {
  /** Overrides policy.catchupTimeoutSeconds for this switchover. */
  timeoutSeconds?: number;
}

/** An undo for a change made before promotion; run in reverse order on a clean abort (docs/invariants.md S3). */

/**
 * Step 4: poll the candidate's WAL positions with durable timers until it holds (and has replayed)
 * the checkpoint. A probe that fails or times out is one missed look, not a verdict: polling goes
 * on until the deadline, and only then does the last error or position decide.
 */
function* waitForCatchUp(context: OrchestrationContext, cluster: string, candidate: string, checkpointLsn: Lsn, timeoutMs: number, pollMs: number): Generator<Task, Lsn, unknown> {
  const deadline = addMilliseconds(context.df.currentUtcDateTime, timeoutMs);
  for (;;) {
    let seen: string;
    try {
      const positions = yield* callActivity(context, 'readWalPositions', { cluster, node: candidate });
      if (positions.receivedLsn && isReadyToPromote(positions, checkpointLsn)) return positions.receivedLsn;
      seen = `received WAL up to ${positions.receivedLsn ?? 'nothing'} and replayed up to ${positions.replayLsn ?? 'nothing'}`;
    } catch (error) {
      seen = `could not be probed (${messageOf(error)})`;
    }
    if (context.df.currentUtcDateTime >= deadline) {
      throw new Error(`${candidate} ${seen}, not past the shutdown checkpoint ${checkpointLsn}, within ${timeoutMs / 1000} s`);
    }
    yield context.df.createTimer(addMilliseconds(context.df.currentUtcDateTime, pollMs));
  }
}

/** After any operation: every reachable node streams from the new primary and the pools match the roles (S4). */
export function convergenceProblems(view: ClusterView, newPrimary: string): string[] {
  const primary = nodeNamed(view, newPrimary);
  if (!primary?.reachable || primary.role !== 'primary') return [`${newPrimary} is not a reachable primary at the end`];
  const problems: string[] = [];
  for (const node of view.nodes) {
    if (node.name === newPrimary) continue;
    if (!node.reachable) problems.push(`${node.name} is unreachable`);
    else if (!streamsFrom(node, primary)) problems.push(`${node.name} is ${node.role === 'primary' ? 'also a primary' : `not streaming from ${newPrimary}`}`);
  }
  if (view.pools.write.join() !== newPrimary) problems.push(`write pool is [${view.pools.write.join(', ')}], expected [${newPrimary}]`);
  return problems;
}

function* switchover(context: OrchestrationContext): Generator<Task, OperationReport, unknown> {
  const input = context.df.getInput() as OperationInput<SwitchoverInput>;
  const runbook = new Runbook(context, { operationId: input.operationId, kind: 'switchover', cluster: input.cluster.name });
  const report = yield* runbook.guarded(exclusively(context, runbook, input, (claimed) => switchoverSteps(context, runbook, input, claimed)));
  return yield* reported(context, input, report);
}

function* switchoverSteps(context: OrchestrationContext, runbook: Runbook, { cluster: config, request }: OperationInput<SwitchoverInput>, claimed: Claimed): Generator<Task, OperationReport, unknown> {
  const cluster = config.name;

  // 1. Inspect, choose the candidate (never a node held for its planned maintenance); any doubt
  // refuses before anything changes.
  const [view, health] = yield* runbook.step('inspect cluster', inspectWithHealth(context, cluster));
  const outcome = planSwitchover(config, view, request, heldNodes(health.state?.maintenanceHolds));
  if (!outcome.ok) return runbook.finish('refused', outcome.refusal.reason);
  const plan: SwitchoverPlan = outcome.plan;
  const { oldPrimary, candidate } = plan;
  runbook.update({ oldPrimary, newPrimary: candidate });
  // Every step that acts refuses a node that holds another database cluster by then (S9).
  const identity = clusterIdentity(view);

  const undo: Undo[] = [];
  const pausedRoles = config.postgres.applicationRoles;
  try {
    // 2. Drain: checkpoint while still serving, pause application logins, end their sessions.
    // The undo goes first: resuming logins is idempotent, and a drain can fail part-way.
    undo.push({ name: 'resume application logins', run: () => callActivity(context, 'resumeApplicationLogins', { cluster, node: oldPrimary, roles: pausedRoles, identity }) });
    yield* runbook.step(DRAIN_STEP, callActivity(context, 'drainPrimary', { cluster, node: oldPrimary, identity }));

    // 3. Stop cleanly: the shutdown checkpoint is the last WAL the old primary writes. It is left
    // configured as a standby of the candidate (S8): should this orchestration never get further,
    // whatever starts it again (a reboot, a service restart) starts a read-only standby that
    // follows the candidate once promoted. The undo brings it back as the primary.
    undo.push({ name: 'restart old primary', run: () => callActivity(context, 'startPostgres', { cluster, node: oldPrimary, startAs: 'primary', identity }) });
    const stopped = yield* runbook.step('stop primary', callActivity(context, 'stopPostgres', { cluster, node: oldPrimary, follow: candidate, identity }), (r) => r);

    // 4. Wait until the candidate holds every committed byte.
    const timeoutMs = (request.timeoutSeconds ?? config.policy.catchupTimeoutSeconds) * 1000;
    yield* runbook.step('wait for candidate', waitForCatchUp(context, cluster, candidate, stopped.checkpointLsn, timeoutMs, config.policy.pollIntervalMs), (lsn) => ({ receivedLsn: lsn, checkpointLsn: stopped.checkpointLsn }));
  } catch (error) {
    return yield* runbook.rollBack(undo, 'aborted', `aborted before promotion: ${messageOf(error)}`);
  }

  // 5. Promote; a failed promotion is looked at before anything is rolled back.
  const rolledBack = yield* promoteOrRollBack(context, runbook, config, candidate, undo, identity);
  if (rolledBack) return rolledBack;

  // Past the point of no return: roll forward only, and report what could not be finished.
  if (pausedRoles.length) {
    const resumed = yield* runbook.bestEffort('resume application logins', callActivity(context, 'resumeApplicationLogins', { cluster, node: candidate, roles: pausedRoles, identity }));
    if (!resumed) runbook.problem(`application logins are still paused on ${candidate}: run ALTER ROLE ... LOGIN for ${pausedRoles.join(', ')}`);
  }
  // 6. Repoint the load balancer: old primary out of both pools, new primary into the write pool.
  yield* runbook.bestEffort(REPOINT_STEP, repoint(context, cluster, oldPrimary, candidate, identity));
  claimed.handLeaseTo(candidate);
  // 7. Other standbys follow the new primary.
  for (const follower of plan.followers) {
    yield* runbook.bestEffort(`${follower} follows ${candidate}`, callActivity(context, 'followPrimary', { cluster, node: follower, primary: candidate, identity }));
  }
  // 8. The old primary comes back as a standby, cheapest safe way first, then serves reads.
  const rejoined = yield* runbook.bestEffort(`rejoin ${oldPrimary}`, runLongVmScript(context, { cluster, node: oldPrimary, script: 'rejoin', input: { primary: candidate }, identity }), (r) => r);
  if (rejoined) {
    runbook.update({ rejoinMethod: rejoined.method });
    yield* runbook.bestEffort(`${oldPrimary} into read pool`, callActivity(context, 'setPoolRole', { cluster, node: oldPrimary, role: 'read', identity }));
  }

  const final = yield* runbook.bestEffort('verify topology', callActivity(context, 'inspectCluster', { cluster }));
  if (final) convergenceProblems(final, candidate).forEach((p) => runbook.problem(p));
  return runbook.finish('completed');
}

/**
 * The old primary is already stopped (step 3), so both pool changes go at once: the write pool
 * never holds two writable nodes, and writes resume after one pool update instead of two.
 */
function* repoint(context: OrchestrationContext, cluster: string, oldPrimary: string, newPrimary: string, identity: string | null): Generator<Task, void, unknown> {
  yield context.df.Task.all([
    activityTask(context, 'setPoolRole', { cluster, node: newPrimary, role: 'write', identity }),
    activityTask(context, 'setPoolRole', { cluster, node: oldPrimary, role: 'none', identity }),
  ]);
}

df.app.orchestration(SWITCHOVER, switchover);
