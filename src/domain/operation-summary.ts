import { DRAIN_STEP, fenceStep, OperationKind, OperationOutcome, OperationReport, REPOINT_STEP, undoStep } from './operation';
import type { StepRecord } from './timeline';

const UNDO_PREFIX = undoStep('');

/** One entry of a cluster's operation history: what a DBA scans for "what happened last night". */
export interface OperationSummary {
  operationId: string;
  kind: OperationKind;
  /** What started it: "http", "health-check", a scheduled event, a shutdown, an Event Grid event. */
  trigger: string;
  /** When the trigger started it: the Durable instance's creation time, which the store gives to the second. */
  startedAt: string;
  outcome: OperationOutcome;
  /** Why it was refused, aborted or failed. */
  reason: string | null;
  oldPrimary: string | null;
  newPrimary: string | null;
  /** The steps that ran while the write frontend took no writes (writeAffectingSteps). */
  writeSteps: { name: string; durationMs: number | null }[];
  problems: string[];
}

/**
 * The steps during which applications could not write: from the one that takes writes away (a
 * switchover's drain, a failover's fence of the old primary) to the one that gives them back (the
 * load balancer repointed to the new primary, or the last undo of a rollback). An operation that
 * never took writes away (a refusal) has none; one that has not given them back yet (running, or
 * stopped by an error) has every step from the first on.
 */
export function writeAffectingSteps(report: Pick<OperationReport, 'steps' | 'oldPrimary'>): StepRecord[] {
  const takesWritesAway = (step: StepRecord) => step.name === DRAIN_STEP || (!!report.oldPrimary && step.name === fenceStep(report.oldPrimary));
  const givesWritesBack = (step: StepRecord) => step.name === REPOINT_STEP || step.name.startsWith(UNDO_PREFIX);
  const first = report.steps.findIndex(takesWritesAway);
  if (first < 0) return [];
  const after = report.steps.slice(first);
  const backAt = after.map(givesWritesBack).lastIndexOf(true);
  return backAt < 0 ? after : after.slice(0, backAt + 1);
}

export function summarizeOperation(report: OperationReport, trigger: string, startedAt: string): OperationSummary {
  return {
    operationId: report.operationId,
    kind: report.kind,
    trigger,
    startedAt,
    outcome: report.outcome,
    reason: report.reason ?? null,
    oldPrimary: report.oldPrimary ?? null,
    newPrimary: report.newPrimary ?? null,
    writeSteps: writeAffectingSteps(report).map((step) => ({ name: step.name, durationMs: step.durationMs ?? null })),
    problems: report.problems,
  };
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** GET /api/clusters/{cluster}/operations: one page of the history, newest first. */
export interface OperationPage {
  operations: OperationSummary[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}
