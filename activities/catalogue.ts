import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ClusterView } from '../src/domain/cluster-view';
import type { Lsn } from '../src/domain/lsn';
import type { PoolRole } from '../src/ports/load-balancer';
import type { VmCommandRun } from '../src/ports/vm-commands';
import type { LongVmScriptName, LongVmScripts } from '../src/app/long-vm-scripts';
import { ActingOn, confirmIdentity } from '../src/app/identity';

export type { LongVmScriptName, LongVmScripts };

/**
 * What a look at a started VM script found: still running, ended well (the typed result), failed
 * (the typed error's message: which script, which VM, why), or gone (no run of that name: an
 * earlier look read its end and deleted it, and that answer was lost with its attempt).
 */
export type VmScriptPoll<R> = { state: 'running'; executionState: string } | { state: 'succeeded'; result: R } | { state: 'failed'; error: string } | { state: 'gone'; detail: string };

export type RepointResult =
  | { outcome: 'streaming'; changed: boolean; senderHost: string; receivedTimeline: number }
  | { outcome: 'refused' | 'cannot-follow'; detail: string };

/**
 * An operation's acting steps carry the system identifier it pinned at its first look; the node
 * they name must still hold that database cluster, or the step refuses (src/app/identity.ts).
 */
type Pinned = { identity?: string | null };

/** Every activity an orchestration may call: its input and what it returns. */
export interface Activities {
  /** `leaveOut`: nodes the operation made sure cannot answer (their VM powered off): not asked (src/app/inspection.ts). */
  inspectCluster: [{ cluster: string; leaveOut?: string[]; briefly?: string[] }, ClusterView];
  drainPrimary: [{ cluster: string; node: string } & Pinned, { pausedRoles: string[]; endedSessions: number }];
  resumeApplicationLogins: [{ cluster: string; node: string; roles: string[] } & Pinned, { resumedRoles: string[] }];
  /** `follow`: the node it streams from if anything starts it again (S8: always as a standby); null when none is known yet. */
  stopPostgres: [{ cluster: string; node: string; follow: string | null } & Pinned, { checkpointLsn: Lsn; timeline: number; restartsAs: 'standby'; follows: string | null }];
  /** `startAs: 'primary'`: the rollback's undo of stopPostgres (back as the primary it was); left out: as configured. */
  startPostgres: [{ cluster: string; node: string; startAs?: 'primary' } & Pinned, { alreadyRunning: boolean; role: 'primary' | 'standby' }];
  readWalPositions: [{ cluster: string; node: string }, { receivedLsn: Lsn | null; replayLsn: Lsn | null; streaming: boolean }];
  promoteStandby: [{ cluster: string; node: string; method: 'runCommand' | 'sql' } & Pinned, { timeline: number; lsn: Lsn; alreadyPrimary: boolean }];
  /** `leaveOut`: nodes the operation made sure cannot be writers (stopped, powered off, lease waited out): the write pool's fresh look skips them. */
  setPoolRole: [{ cluster: string; node: string; role: PoolRole; restoring?: boolean; leaveOut?: string[] } & Pinned, { changed: boolean }];
  followPrimary: [{ cluster: string; node: string; primary: string } & Pinned, { senderHost: string; receivedTimeline: number }];
  /**
   * The health check's re-point of a standby that streams from elsewhere: looks again (gate, pools,
   * roles, timelines), then follow.sh. `refused`: the decision no longer holds; `cannot-follow`:
   * it did not stream from the primary in time (past the fork point?): the rejoin path's turn.
   */
  repointStandby: [{ cluster: string; node: string; primary: string }, RepointResult];
  /**
   * Starts a long VM script (src/app/long-vm-scripts.ts) as a managed Run Command and returns at
   * once; `runName` names this run on every attempt (orchestrations/vm-script-run.ts).
   */
  startVmScript: [{ cluster: string; node: string; script: LongVmScriptName; input: LongVmScripts[LongVmScriptName][0]; runName: string } & Pinned, VmCommandRun];
  /** One look at a started run; a failed script is an answer (`failed`), not an activity failure. */
  pollVmScript: [{ cluster: string; node: string; script: LongVmScriptName; run: VmCommandRun }, VmScriptPoll<LongVmScripts[LongVmScriptName][1]>];
  fenceVm: [{ cluster: string; node: string } & Pinned, { powerState: string }];
  inspectVm: [{ cluster: string; node: string }, import('../src/domain/failover').VmInspection];
  startAutomaticFailover: [{ cluster: string; reason: string; requestedBy: string; unreachablePrimary?: string }, { started: boolean; operationId: string; kind: string }];
  startRejoin: [{ cluster: string; node: string; primary: string; reason: string }, { started: boolean; instanceId: string }];
  /**
   * `agentSilent`: its agent did not answer the probes of a look the caller just took, nothing done
   * since: not asked again. `nodeAnswered`: the node itself (its agent or Run Command) said whether
   * PostgreSQL runs there; false when it could not be asked.
   */
  ensurePostgresStopped: [{ cluster: string; node: string; agentSilent?: boolean } & Pinned, { stopped: boolean; how: string; checkpointLsn: Lsn | null; nodeAnswered: boolean }];
  /** `holdsWeighed`: the caller is the cluster monitor, whose verdict already weighed the maintenance holds. */
  setReadPoolIfStandby: [{ cluster: string; node: string; holdsWeighed?: boolean }, { changed: boolean; refused: string | null }];
  /** Whether an operation (by instance id) still runs: `active` for Pending, Running, ContinuedAsNew or Suspended. */
  readOperationStatus: [{ operationId: string }, { active: boolean; runtimeStatus: string | null }];
  readHealthState: [{ cluster: string }, { state: import('../src/domain/health').HealthState | null; operation: { operationId: string; kind: string } | null }];
  /** Sends an ended operation's steps and outcome to Application Insights (src/telemetry); buffers only, never fails on the network. */
  reportOperation: [{ report: import('../src/domain/operation').OperationReport; trigger: string }, null];
}

export type ActivityName = keyof Activities;
export type InputOf<K extends ActivityName> = Activities[K][0];
export type OutputOf<K extends ActivityName> = Activities[K][1];

/**
 * Activities are idempotent, so a transient failure (a dropped connection, a busy VM) is retried
 * a few times before the orchestration sees it.
 */
const TRANSIENT_RETRY = (() => {
  const retry = new df.RetryOptions(2000, 3);
  retry.backoffCoefficient = 2;
  return retry;
})();

/** The task for one activity call, for running several at once with Task.all. */
export function activityTask<K extends ActivityName>(context: OrchestrationContext, name: K, input: InputOf<K>): Task {
  return context.df.callActivityWithRetry(name, TRANSIENT_RETRY, input);
}

/** Calls one activity; `yield*` it to get the typed result. */
export function* callActivity<K extends ActivityName>(context: OrchestrationContext, name: K, input: InputOf<K>): Generator<Task, OutputOf<K>, unknown> {
  return (yield activityTask(context, name, input)) as OutputOf<K>;
}

/**
 * Registers the implementation of one catalogued activity with the Functions runtime. An acting
 * step first confirms that the nodes it names still hold the operation's database cluster.
 */
export function registerActivity<K extends ActivityName>(name: K, implementation: (input: InputOf<K>) => Promise<OutputOf<K>>): void {
  df.app.activity(name, {
    handler: async (input: unknown) => {
      await confirmIdentity(name, input as ActingOn);
      return implementation(input as InputOf<K>);
    },
  });
}
