import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { callActivity } from '../activities/catalogue';
import type { ClusterConfig } from '../src/config/schema';
import {
  CLUSTER_MONITOR,
  HealthAction,
  healthVerdict,
  HealthState,
  holdForMaintenance,
  initialHealthState,
  isStale,
  MONITOR_EVENT,
  MonitorEvent,
  MonitorInput,
  recordAction,
  recordStale,
  rejoinInstead,
  setMaintenance,
} from '../src/domain/health';
import { fitHealthState } from '../src/domain/status-size';
import { messageOf } from './runbook';

/**
 * The cluster monitor: one eternal orchestration per cluster holding the health check's durable
 * state (docs/design.md §5) — consecutive failures of the primary and since when, the last known
 * primary and its LSN, the maintenance flag, former primaries waiting to rejoin, the last
 * operation and action. The timer trigger probes the cluster and sends each observation here as
 * an external event; the monitor folds it into the state with the pure healthVerdict and takes
 * the action it calls for.
 *
 * Why an orchestration and not a Durable Entity or a storage table (the other options):
 * - events to one instance are processed one at a time, in order, so overlapping timer runs,
 *   a maintenance request and a check can never interleave their read-modify-write — the
 *   property entities give, without them (the local runtime cannot run entities yet, and a
 *   table would need its own ETag protocol and exists only in Azure);
 * - the state and every decision are in the instance's history, replayable and inspectable
 *   (its custom status is the live state the HTTP API and the failover read);
 * - it runs unchanged in Azure and locally. continueAsNew every EVENTS_PER_EXECUTION events
 *   bounds the history; the state travels as the next execution's input. Events the ending
 *   execution had been delivered but had not taken yet are lost then (the JS SDK cannot preserve
 *   them; docs/azure-platform.md item 3): a lost observation is replaced by the next timer run, and
 *   the maintenance endpoint sends its request again when a later execution (`execution`) has not
 *   confirmed it; a request applied twice changes nothing (setMaintenance keeps recent ids).
 * A monitor that failed or was terminated is started again by the next timer run from its last
 * published state (src/functions/health-check-client.ts), so the maintenance flag survives it.
 * Observations begun before the monitor's last action finished are ignored (stale: they describe
 * the cluster before the action). Long work (a failover, a rejoin) runs as its own orchestration
 * so the monitor keeps watching meanwhile; only the S2 fence of a second writer and the re-point
 * of a standby (follow.sh, bounded by activities/repoint-standby.ts) run inline. Maintenance holds (a node
 * approved for planned maintenance stays out of the pools until it is over) are applied like the
 * maintenance flag: requests with their own id, confirmed through the published state.
 * The monitor acts only while no operation owns the cluster; a rejoin it started does not claim
 * it (only switchover and failover do), see the rejoin.
 */
const EVENTS_PER_EXECUTION = 100;

function* clusterMonitor(context: OrchestrationContext): Generator<Task, void, unknown> {
  const input = context.df.getInput() as MonitorInput;
  // A state published by an earlier version lacks the newer fields: they start from their defaults.
  const carried: HealthState = { ...initialHealthState(input.cluster), ...input.state };
  let state = fitHealthState({ ...carried, execution: carried.execution + 1 });
  context.df.setCustomStatus(state);
  for (let handled = 0; handled < EVENTS_PER_EXECUTION; handled++) {
    const event = (yield context.df.waitForExternalEvent(MONITOR_EVENT)) as MonitorEvent;
    // Bounded: the state is the custom status, which must stay under 16 KB (src/domain/status-size.ts).
    state = fitHealthState(yield* handle(context, state, event));
    context.df.setCustomStatus(state);
  }
  context.df.continueAsNew({ cluster: input.cluster, state } satisfies MonitorInput);
}

function* handle(context: OrchestrationContext, state: HealthState, event: MonitorEvent): Generator<Task, HealthState, unknown> {
  const now = context.df.currentUtcDateTime.toISOString();
  switch (event?.type) {
    case 'maintenance':
      return setMaintenance(state, { enabled: event.enabled, at: now, by: event.by, reason: event.reason, requestId: event.requestId, requestedAt: event.requestedAt });
    case 'maintenance-hold':
      return holdForMaintenance(state, event.hold, event.requestId);
    case 'observation': {
      if (isStale(state, event.observation)) return recordStale(state);
      const assessment = healthVerdict(event.config, state, event.observation);
      const action = assessment.check.action;
      return action ? yield* act(context, event.config, assessment.state, action) : assessment.state;
    }
    default:
      return state; // not an event this monitor knows: ignored
  }
}

function* act(context: OrchestrationContext, config: ClusterConfig, state: HealthState, action: HealthAction): Generator<Task, HealthState, unknown> {
  const cluster = config.name;
  const done = () => context.df.currentUtcDateTime.toISOString();
  try {
    switch (action.kind) {
      case 'failover': {
        const started = yield* callActivity(context, 'startAutomaticFailover', { cluster, reason: action.reason, requestedBy: 'health-check', ...(action.unreachablePrimary ? { unreachablePrimary: action.unreachablePrimary } : {}) });
        const detail = started.started ? `started failover ${started.operationId}` : `not started: ${started.kind} ${started.operationId} is running`;
        return recordAction(state, action, { at: done(), ok: started.started, detail, operation: { operationId: started.operationId, started: started.started } });
      }
      case 'fence': {
        // S2: no new session reaches it, and the ones it has end with it. It answers, so a clean
        // stop is the fence (and keeps it rejoinable); the VM is powered off only if that fails.
        yield* callActivity(context, 'setPoolRole', { cluster, node: action.node, role: 'none' });
        // The stop leaves it configured as a standby (S8: restarted by anything, it is read-only),
        // of the primary it is to rejoin when that is known, else with the upstream it had.
        const rejoinTo = state.pendingRejoin.find((p) => p.node === action.node)?.primary;
        let stopped: { checkpointLsn: string; timeline: number };
        try {
          stopped = yield* callActivity(context, 'stopPostgres', { cluster, node: action.node, follow: rejoinTo && rejoinTo !== action.node ? rejoinTo : null });
        } catch (error) {
          if (!config.policy.fenceByPowerOff) throw error;
          const fenced = yield* callActivity(context, 'fenceVm', { cluster, node: action.node });
          return recordAction(state, action, { at: done(), ok: true, detail: `out of the pools; the clean stop failed (${messageOf(error)}), VM powered off (${fenced.powerState})` });
        }
        const fenced = recordAction(state, action, { at: done(), ok: true, detail: `out of the pools; stopped cleanly at ${stopped.checkpointLsn} (timeline ${stopped.timeline})` });
        const pending = fenced.pendingRejoin.find((p) => p.node === action.node);
        if (!pending) return fenced;
        return yield* act(context, config, fenced, { kind: 'rejoin', node: action.node, primary: pending.primary, reason: `${action.node} was fenced as a second writer: ${action.reason}` });
      }
      case 'rejoin': {
        const started = yield* callActivity(context, 'startRejoin', { cluster, node: action.node, primary: action.primary, reason: action.reason });
        return recordAction(state, action, { at: done(), ok: true, detail: `${started.started ? 'started' : 'already running'}: ${started.instanceId}` });
      }
      case 'repoint':
        return yield* repoint(context, config, state, action);
      case 'read-pool': {
        // The verdict weighed this turn's maintenance holds; the published ones may still show a
        // hold that ended with this very check.
        const serving = yield* callActivity(context, 'setReadPoolIfStandby', { cluster, node: action.node, holdsWeighed: true });
        if (serving.refused) return recordAction(state, action, { at: done(), ok: false, detail: serving.refused });
        return recordAction(state, action, { at: done(), ok: true, detail: `${action.node} serves reads again` });
      }
    }
  } catch (error) {
    return recordAction(state, action, { at: done(), ok: false, detail: messageOf(error) });
  }
}

/**
 * A standby that streams from the wrong node (or not at all) follows the primary again: follow.sh
 * through the repointStandby activity, which looks again first. One that cannot simply follow
 * (its WAL went past the fork point) is handed to the rejoin path at once, as a fenced writer is.
 */
function* repoint(context: OrchestrationContext, config: ClusterConfig, state: HealthState, action: Extract<HealthAction, { kind: 'repoint' }>): Generator<Task, HealthState, unknown> {
  const done = () => context.df.currentUtcDateTime.toISOString();
  const result = yield* callActivity(context, 'repointStandby', { cluster: config.name, node: action.node, primary: action.primary });
  switch (result.outcome) {
    case 'streaming':
      return recordAction(state, action, { at: done(), ok: true, detail: `${action.node} streams from ${action.primary} (${result.changed ? 'primary_conninfo re-pointed' : 'primary_conninfo was already right'}; timeline ${result.receivedTimeline})` });
    case 'refused':
      return recordAction(state, action, { at: done(), ok: false, detail: result.detail });
    case 'cannot-follow': {
      const failed = rejoinInstead(recordAction(state, action, { at: done(), ok: false, detail: result.detail }), action.node, action.primary, done());
      return yield* act(context, config, failed, { kind: 'rejoin', node: action.node, primary: action.primary, reason: `${action.node} could not simply follow ${action.primary}: ${result.detail}` });
    }
  }
}

df.app.orchestration(CLUSTER_MONITOR, clusterMonitor);
