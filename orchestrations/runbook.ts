import type { OrchestrationContext, Task } from 'durable-functions';
import { OperationOutcome, OperationReport, undoStep } from '../src/domain/operation';
import { fitOperationReport } from '../src/domain/status-size';
import { finishStep, startStep } from '../src/domain/timeline';

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The custom status has a small size limit (16 KB in the host, or the orchestration fails): a long
 * script error repeated in several steps must not push it over, so step errors and problems are
 * clipped here, and the whole published report is bounded by fitOperationReport.
 */
const MAX_TEXT = 400;
const clip = (text: string): string => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);

/** A change made before the point of no return, and how to take it back (docs/invariants.md S3). */
export type Undo = { name: string; run: () => Generator<Task, unknown, unknown> };

/**
 * Records an operation's steps as it runs them: each step's start, duration and result go into
 * the custom status, so a caller sees the live step and, at the end, the whole timeline.
 */
export class Runbook {
  private report: OperationReport;

  constructor(
    private readonly context: OrchestrationContext,
    start: Pick<OperationReport, 'operationId' | 'kind' | 'cluster'>,
  ) {
    this.report = { ...start, outcome: 'running', problems: [], steps: [] };
    this.publish();
  }

  /**
   * Runs a whole operation. An error nothing in it handled still ends the report — "failed", with
   * the error — so a caller never reads "running" from an operation that is over.
   */
  *guarded(operation: Generator<Task, OperationReport, unknown>): Generator<Task, OperationReport, unknown> {
    try {
      return yield* operation;
    } catch (error) {
      return this.finish('failed', `stopped by an error no step handled: ${messageOf(error)}`);
    }
  }

  /** Runs one step; a failure is recorded and rethrown for the orchestration to decide. */
  *step<T>(name: string, work: Generator<Task, T, unknown>, summary?: (result: T) => unknown): Generator<Task, T, unknown> {
    this.update({ currentStep: name, steps: startStep(this.report.steps, name, this.context.df.currentUtcDateTime) });
    try {
      const result = yield* work;
      this.update({ steps: finishStep(this.report.steps, this.context.df.currentUtcDateTime, 'ok', summary ? summary(result) : undefined) });
      return result;
    } catch (error) {
      this.update({ steps: finishStep(this.report.steps, this.context.df.currentUtcDateTime, 'failed', { error: clip(messageOf(error)) }) });
      throw error;
    }
  }

  /** Runs a step whose failure must not stop the rest (after the point of no return): it becomes a reported problem. */
  *bestEffort<T>(name: string, work: Generator<Task, T, unknown>, summary?: (result: T) => unknown): Generator<Task, T | undefined, unknown> {
    try {
      return yield* this.step(name, work, summary);
    } catch (error) {
      this.problem(`${name}: ${messageOf(error)}`);
      return undefined;
    }
  }

  problem(text: string): void {
    this.update({ problems: [...this.report.problems, clip(text)] });
  }

  update(fields: Partial<OperationReport>): void {
    this.report = { ...this.report, ...fields };
    this.publish();
  }

  finish(outcome: Exclude<OperationOutcome, 'running'>, reason?: string): OperationReport {
    this.update({ outcome, currentStep: undefined, ...(reason ? { reason: clip(reason) } : {}) });
    return this.report;
  }

  /**
   * Before promotion nothing is lost by stopping: take every change back in reverse order. If an
   * undo fails, the operation ends "failed" and says which, because the old primary needs an operator.
   */
  *rollBack(undo: Undo[], outcome: 'refused' | 'aborted', reason: string): Generator<Task, OperationReport, unknown> {
    const failures: string[] = [];
    for (const step of [...undo].reverse()) {
      try {
        yield* this.step(undoStep(step.name), step.run());
      } catch (error) {
        failures.push(`${step.name}: ${messageOf(error)}`);
      }
    }
    if (failures.length) return this.finish('failed', `${reason}; the rollback did not complete (${failures.join('; ')}): the old primary needs an operator`);
    return this.finish(outcome, reason);
  }

  /** The live report, kept within the custom status limit (the output, at the end, is the whole report). */
  private publish(): void {
    this.context.df.setCustomStatus(fitOperationReport(this.report));
  }
}

export { messageOf };
