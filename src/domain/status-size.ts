import type { ActionRecord, CheckRecord, HealthAction, HealthState } from './health';
import type { OperationReport } from './operation';
import type { StepRecord } from './timeline';

/**
 * The custom status limit (docs/azure-platform.md item 6). The Durable Task extension serializes a
 * custom status with Newtonsoft and refuses it when its UTF-16 size, in whole KB rounded down, is
 * above 16 (MessagePayloadDataConverter.Serialize(value, 16)); the orchestration then FAILS. So the
 * JSON may hold at most 8703 UTF-16 code units (JavaScript's string length); 8192 — 16 KiB as
 * UTF-16, exactly — leaves room for serializer differences. Everything the app publishes as a
 * custom status goes through a function here that keeps it within that budget.
 */
export const CUSTOM_STATUS_MAX_CHARS = 8192;

export const jsonLength = (value: unknown): number => JSON.stringify(value)?.length ?? 0;

export const fitsCustomStatus = (value: unknown): boolean => jsonLength(value) <= CUSTOM_STATUS_MAX_CHARS;

export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  return max <= 0 ? '' : `${text.slice(0, max - 1)}…`;
}

const clipOptional = (text: string | null | undefined, max: number): string | null | undefined => (typeof text === 'string' ? clipText(text, max) : text);

// ------------------------------------------------------------------------ operation reports

interface ReportLimits {
  /** Characters per text (reason, problem, step name). */
  text: number;
  /** Characters of a step's detail as JSON; longer ones become clipped JSON text (0: dropped). */
  detail: number;
  problems: number;
  steps: number;
}

const REPORT_LEVELS: ReportLimits[] = [
  { text: 400, detail: 400, problems: 10, steps: 40 },
  { text: 150, detail: 120, problems: 5, steps: 20 },
  { text: 80, detail: 0, problems: 3, steps: 10 },
];

/**
 * An operation's live report as it may be published (Runbook): unchanged while it fits; else
 * texts and step details clipped, then problems and steps thinned out (the first steps and the
 * latest ones are kept, with a marker for those left out), and in the end a summary that is
 * bounded whatever the report holds. The full report is still the orchestration's output.
 */
export function fitOperationReport(report: OperationReport): OperationReport {
  if (fitsCustomStatus(report)) return report;
  for (const limits of REPORT_LEVELS) {
    const fitted = shrinkReport(report, limits);
    if (fitsCustomStatus(fitted)) return fitted;
  }
  return reportSummary(report);
}

function shrinkReport(report: OperationReport, limits: ReportLimits): OperationReport {
  const problems = report.problems.slice(0, limits.problems).map((p) => clipText(p, limits.text));
  const moreProblems = report.problems.length - problems.length;
  if (moreProblems > 0) problems.push(`… ${moreProblems} more problem(s): see the report when the operation ends`);
  return {
    ...report,
    ...(report.reason !== undefined ? { reason: clipText(report.reason, limits.text) } : {}),
    ...(report.currentStep !== undefined ? { currentStep: clipText(report.currentStep, limits.text) } : {}),
    ...(report.oldPrimary !== undefined ? { oldPrimary: clipText(report.oldPrimary, 100) } : {}),
    ...(report.newPrimary !== undefined ? { newPrimary: clipText(report.newPrimary, 100) } : {}),
    ...(report.rejoinMethod !== undefined ? { rejoinMethod: clipText(report.rejoinMethod, 100) } : {}),
    problems,
    steps: thinSteps(report.steps, limits.steps).map((step) => shrinkStep(step, limits)),
  };
}

function shrinkStep(step: StepRecord, limits: ReportLimits): StepRecord {
  const { detail, ...rest } = step;
  const shrunk: StepRecord = { ...rest, name: clipText(step.name, limits.text) };
  if (detail === undefined) return shrunk;
  const json = JSON.stringify(detail) ?? '';
  if (json.length <= limits.detail) return { ...shrunk, detail };
  return limits.detail > 0 ? { ...shrunk, detail: clipText(json, limits.detail) } : shrunk;
}

/** At most `max` steps: the first two and the latest ones, with one marker step for those left out. */
function thinSteps(steps: StepRecord[], max: number): StepRecord[] {
  if (steps.length <= max) return steps;
  const head = steps.slice(0, 2);
  const tail = steps.slice(steps.length - (max - 3));
  const omitted = steps.length - head.length - tail.length;
  const marker: StepRecord = { name: `… ${omitted} step(s) not shown: see the report when the operation ends`, startedAt: steps[2].startedAt, result: 'skipped' };
  return [...head, marker, ...tail];
}

function reportSummary(report: OperationReport): OperationReport {
  const shown = report.steps.slice(-3).map(({ detail: _detail, ...step }) => ({ ...step, name: clipText(step.name, 80) }));
  return {
    operationId: clipText(report.operationId, 200),
    kind: report.kind,
    cluster: clipText(report.cluster, 100),
    outcome: report.outcome,
    ...(report.currentStep !== undefined ? { currentStep: clipText(report.currentStep, 80) } : {}),
    ...(report.reason !== undefined ? { reason: clipText(report.reason, 200) } : {}),
    problems: report.problems.length ? [`${report.problems.length} problem(s): see the report when the operation ends`] : [],
    steps: report.steps.length > shown.length ? [{ name: `… ${report.steps.length - shown.length} earlier step(s) not shown`, startedAt: report.steps[0].startedAt, result: 'skipped' }, ...shown] : shown,
  };
}

// ------------------------------------------------------------------------ the monitor's state

interface HealthLimits {
  /** Characters per text (summaries, findings, reasons, details). */
  text: number;
  findings: number;
}

const HEALTH_LEVELS: HealthLimits[] = [
  { text: 400, findings: 12 },
  { text: 150, findings: 4 },
  { text: 60, findings: 0 },
  // The last resort, with every node pending a rejoin and MAX_HOLDS of them held for maintenance: the
  // decisive fields alone fill most of the budget, so the descriptions give way entirely.
  { text: 0, findings: 0 },
];

/**
 * The cluster monitor's state as it keeps and publishes it: only the texts that describe (the last
 * check's summary and findings, reasons, action details) are clipped, first moderately and, if the
 * whole is still too big, harder; the fields decisions read (failure counts and times, the last
 * known primary, pending rejoins, maintenance flag, request ids) are never touched. Those are
 * bounded by the configuration: pending rejoins and maintenance holds by the cluster's nodes (at most MAX_NODES, one each), request
 * ids by RECENT_REQUEST_IDS; test/unit/domain/status-size.test.ts builds the worst case.
 */
export function fitHealthState(state: HealthState): HealthState {
  let fitted = shrinkHealth(state, HEALTH_LEVELS[0]);
  for (const limits of HEALTH_LEVELS.slice(1)) {
    if (fitsCustomStatus(fitted)) return fitted;
    fitted = shrinkHealth(state, limits);
  }
  return fitted;
}

function shrinkHealth(state: HealthState, limits: HealthLimits): HealthState {
  const text = (value: string) => clipText(value, limits.text);
  return {
    ...state,
    maintenance: { ...state.maintenance, changedBy: clipOptional(state.maintenance.changedBy, 100) ?? null, reason: clipOptional(state.maintenance.reason, limits.text) ?? null },
    lastOperation: state.lastOperation ? { ...state.lastOperation, reason: text(state.lastOperation.reason) } : null,
    lastAction: state.lastAction ? shrinkActionRecord(state.lastAction, limits) : null,
    lastCheck: state.lastCheck ? shrinkCheck(state.lastCheck, limits) : null,
  };
}

function shrinkActionRecord(record: ActionRecord, limits: HealthLimits): ActionRecord {
  return { ...record, detail: clipText(record.detail, limits.text) };
}

function shrinkAction(action: HealthAction, limits: HealthLimits): HealthAction {
  return { ...action, reason: clipText(action.reason, limits.text) };
}

function shrinkCheck(check: CheckRecord, limits: HealthLimits): CheckRecord {
  const findings = check.findings.slice(0, limits.findings).map((f) => clipText(f, limits.text));
  const more = check.findings.length - findings.length;
  if (more > 0) findings.push(`… ${more} more finding(s)`);
  return {
    ...check,
    summary: clipText(check.summary, limits.text),
    findings,
    action: check.action ? shrinkAction(check.action, limits) : null,
    suppressed: check.suppressed ? { action: shrinkAction(check.suppressed.action, limits), because: clipText(check.suppressed.because, limits.text) } : null,
  };
}
