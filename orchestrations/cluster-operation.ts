import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { CLUSTER_OPERATION, OperationInput, OperationReport } from '../src/domain/operation';

/**
 * The single-flight gate (docs/invariants.md S5). It always runs under the cluster's one gate
 * instance id, and the Durable Task host refuses to start an instance whose id is already running,
 * so at most one operation per cluster runs whatever mix of triggers asks. The operation itself
 * runs as a sub-orchestration under its own id, so every operation keeps its own history and
 * report.
 */
function* clusterOperation(context: OrchestrationContext): Generator<Task, OperationReport, unknown> {
  const input = context.df.getInput() as OperationInput<unknown>;
  context.df.setCustomStatus({ operationId: input.operationId, kind: input.kind });
  return (yield context.df.callSubOrchestrator(input.kind, input, input.operationId)) as OperationReport;
}

df.app.orchestration(CLUSTER_OPERATION, clusterOperation);
