import type { OrchestrationContext, Task } from 'durable-functions';
import { callActivity } from '../activities/catalogue';
import type { ClusterConfig } from '../src/config/schema';
import { nodeNamed } from '../src/domain/cluster-view';
import type { OperationReport } from '../src/domain/operation';
import { messageOf, Runbook, Undo } from './runbook';

/**
 * The promote step of a switchover and a failover. A failed promote may still have promoted, or
 * may still complete later: look, and if the candidate is not (known to be) primary, take it out
 * of every pool before rolling back, so that a late promotion can never be reached through the
 * load balancer beside the restarted old primary (docs/invariants.md S2, S3). Returns the
 * rolled-back report, or undefined when the candidate is primary and the operation goes on.
 */
export function* promoteOrRollBack(context: OrchestrationContext, runbook: Runbook, config: ClusterConfig, candidate: string, undo: Undo[], identity: string | null): Generator<Task, OperationReport | undefined, unknown> {
  const cluster = config.name;
  try {
    yield* runbook.step('promote candidate', callActivity(context, 'promoteStandby', { cluster, node: candidate, method: config.policy.promoteMethod, identity }), (r) => r);
    return undefined;
  } catch (error) {
    if (!(yield* isPrimaryNow(context, cluster, candidate))) {
      undo.push({ name: `take ${candidate} out of the pools`, run: () => callActivity(context, 'setPoolRole', { cluster, node: candidate, role: 'none', identity }) });
      runbook.problem(`${candidate} was asked to promote and then taken out of the pools: check it is still a standby before putting it back into the read pool`);
      return yield* runbook.rollBack(undo, 'aborted', `promotion of ${candidate} failed: ${messageOf(error)}`);
    }
    runbook.problem(`promote reported an error but ${candidate} is primary: ${messageOf(error)}`);
    return undefined;
  }
}

/** Whether a node is a reachable primary now; an inspection that fails counts as "not known to be". */
function* isPrimaryNow(context: OrchestrationContext, cluster: string, node: string): Generator<Task, boolean, unknown> {
  try {
    const view = yield* callActivity(context, 'inspectCluster', { cluster });
    const inspected = nodeNamed(view, node);
    return !!inspected?.reachable && inspected.role === 'primary';
  } catch {
    return false;
  }
}
