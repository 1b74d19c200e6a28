import type { OrchestrationContext, Task } from 'durable-functions';
import { callActivity } from '../activities/catalogue';
import type { OperationInput, OperationReport } from '../src/domain/operation';

/**
 * Once an operation has ended — every step done, the cluster released — its report goes to
 * telemetry through one activity (an orchestrator does no I/O). That dispatch comes after the
 * last step, never between the drain and the repoint, so it adds nothing to the write outage.
 * Telemetry never changes an operation's outcome: a report that cannot be sent is dropped.
 */
export function* reported(context: OrchestrationContext, input: OperationInput<unknown>, report: OperationReport): Generator<Task, OperationReport, unknown> {
  try {
    yield* callActivity(context, 'reportOperation', { report, trigger: input.requestedBy });
  } catch {
    // dropped: see above
  }
  return report;
}
