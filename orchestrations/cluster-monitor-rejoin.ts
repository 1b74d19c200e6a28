import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { callActivity } from '../activities/catalogue';
import { ClusterView, nodeNamed, primariesOf, streamsFrom } from '../src/domain/cluster-view';
import { REJOIN_NODE, RejoinInput } from '../src/domain/health';
import { fenceStep } from '../src/domain/operation';
import { finishStep, startStep, StepRecord } from '../src/domain/timeline';
import { messageOf } from './runbook';
import { runLongVmScript } from './vm-script-run';
import { clipText } from '../src/domain/status-size';
import { clusterIdentity } from '../src/domain/cluster-identity';

/** How a rejoin ended: rejoined, left for later (the node cannot be reached yet), skipped, or failed. */
export interface RejoinReport {
  cluster: string;
  node: string;
  primary: string | null;
  outcome: 'running' | 'rejoined' | 'waiting' | 'skipped' | 'failed';
  reason: string;
  method?: string;
  steps: StepRecord[];
}

/**
 * A former primary (or a fenced second writer) comes back as a standby of the current primary,
 * started by the cluster monitor when the node is back: out of the write pool first and, if it came
 * back writable, stopped cleanly before anything else (docs/invariants.md S2); then rejoin.sh
 * (plain follow, else pg_rewind, else pg_basebackup) and into the read pool. It looks again before
 * each change: the monitor's observation may be older than what it finds.
 *
 * It checks that no operation owns the cluster when it starts but does not claim it (OperationKind
 * has only switchover and failover): a switchover started during a rejoin sees the node as down or
 * as a standby and goes on without it; a rejoin that then streams from the wrong node is reported
 * by the next checks and retried. Claiming the cluster for rejoins too would close that window.
 */
/** A handful of steps with their errors clipped keeps the published report far below the 16 KB custom status limit. */
const MAX_ERROR_CHARS = 400;

function* rejoinReturningNode(context: OrchestrationContext): Generator<Task, RejoinReport, unknown> {
  const input = context.df.getInput() as RejoinInput;
  const cluster = input.cluster.name;
  const node = input.node;
  let report: RejoinReport = { cluster, node, primary: null, outcome: 'running', reason: input.reason, steps: [] };
  const publish = (fields: Partial<RejoinReport>) => {
    report = { ...report, ...fields };
    context.df.setCustomStatus(report);
    return report;
  };
  function* step<T>(name: string, work: Generator<Task, T, unknown>, summary?: (result: T) => unknown): Generator<Task, T, unknown> {
    publish({ steps: startStep(report.steps, name, context.df.currentUtcDateTime) });
    try {
      const result = yield* work;
      publish({ steps: finishStep(report.steps, context.df.currentUtcDateTime, 'ok', summary?.(result)) });
      return result;
    } catch (error) {
      publish({ steps: finishStep(report.steps, context.df.currentUtcDateTime, 'failed', { error: clipText(messageOf(error), MAX_ERROR_CHARS) }) });
      throw error;
    }
  }
  const finish = (outcome: RejoinReport['outcome'], reason: string, method?: string) => publish({ outcome, reason: clipText(reason, MAX_ERROR_CHARS), ...(method ? { method } : {}) });
  publish({});

  try {
    const health = yield* step('check for a running operation', callActivity(context, 'readHealthState', { cluster }), (r) => r.operation);
    if (health.operation) return finish('skipped', `${health.operation.kind} ${health.operation.operationId} is running; the health check tries again after it`);

    const view = yield* step('inspect cluster', callActivity(context, 'inspectCluster', { cluster }), summarize);
    const primary = writePrimary(view);
    if (!primary) return finish('skipped', `no single healthy primary in the write pool (write pool: [${view.pools.write.join(', ')}]): nothing to rejoin to`);
    if (primary === node) return finish('skipped', `${node} is the write pool's primary`);
    publish({ primary });
    // Its acting steps refuse a node that holds another database cluster by then (S9).
    const identity = clusterIdentity(view);
    const current = nodeNamed(view, node);
    if (!current) return finish('skipped', `${node} is not a node of this cluster`);

    if (current.reachable && streamsFrom(current, nodeNamed(view, primary)!)) {
      const serving = yield* step(`${node} into the read pool`, callActivity(context, 'setReadPoolIfStandby', { cluster, node }), (r) => r);
      if (serving.refused) return finish('failed', serving.refused);
      return finish('rejoined', `${node} already streams from ${primary}`, 'follow');
    }
    if (current.reachable && current.role === 'primary') {
      // It came back writable: never through the load balancer, and its sessions end now.
      yield* step(fenceStep(node), callActivity(context, 'setPoolRole', { cluster, node, role: 'none', identity }));
      yield* step(`stop ${node}`, callActivity(context, 'stopPostgres', { cluster, node, follow: primary, identity }), (r) => r);
    } else if (!current.reachable) {
      const vm = yield* step(`look at ${node}'s VM`, callActivity(context, 'inspectVm', { cluster, node }), (r) => r);
      if (vm.powerState !== 'running') return finish('waiting', `${node}'s VM is ${vm.powerState}: rejoined when it runs again`);
      if (vm.serverRunning !== false) {
        return finish('waiting', vm.serverRunning ? `PostgreSQL runs on ${node} but does not answer (${current.error}): rejoined once it answers` : `${node}'s VM could not be asked (${vm.detail ?? 'no detail'})`);
      }
      yield* step(fenceStep(node), callActivity(context, 'setPoolRole', { cluster, node, role: 'none', identity }));
    }

    const rejoined = yield* step(`rejoin ${node} to ${primary}`, runLongVmScript(context, { cluster, node, script: 'rejoin', input: { primary }, identity }), (r) => r);
    // Only a node still in recovery goes into the read pool: a switchover may have promoted it
    // meanwhile (this rejoin does not own the cluster).
    const serving = yield* step(`${node} into the read pool`, callActivity(context, 'setReadPoolIfStandby', { cluster, node }), (r) => r);
    if (serving.refused) return finish('failed', `rejoined (${rejoined.method}), but ${serving.refused}`);
    return finish('rejoined', `${node} streams from ${primary} (${rejoined.method})`, rejoined.method);
  } catch (error) {
    return finish('failed', messageOf(error));
  }
}

/** The write pool's single member, when it is a reachable primary. */
function writePrimary(view: ClusterView): string | undefined {
  if (view.pools.write.length !== 1) return undefined;
  const [name] = view.pools.write;
  return primariesOf(view).some((p) => p.name === name) ? name : undefined;
}

const summarize = (view: ClusterView) => ({
  write: view.pools.write,
  nodes: view.nodes.map((n) => `${n.name}: ${n.reachable ? n.role : 'unreachable'}`),
});

df.app.orchestration(REJOIN_NODE, rejoinReturningNode);
