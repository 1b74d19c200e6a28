/** One step of an operation as the caller sees it: live while running, a timeline at the end. */
export interface StepRecord {
  name: string;
  startedAt: string;
  durationMs?: number;
  result: 'running' | 'ok' | 'failed' | 'skipped';
  detail?: unknown;
}

export function startStep(steps: StepRecord[], name: string, now: Date): StepRecord[] {
  return [...steps, { name, startedAt: now.toISOString(), result: 'running' }];
}

export function finishStep(steps: StepRecord[], now: Date, result: 'ok' | 'failed' | 'skipped', detail?: unknown): StepRecord[] {
  const last = steps[steps.length - 1];
  if (!last || last.result !== 'running') return steps;
  const finished: StepRecord = { ...last, result, durationMs: now.getTime() - Date.parse(last.startedAt), ...(detail === undefined ? {} : { detail }) };
  return [...steps.slice(0, -1), finished];
}
