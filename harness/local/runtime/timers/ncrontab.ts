/**
 * Timer trigger schedules as the Functions host reads them (WebJobs TimerTriggerAttribute):
 * a six-field NCRONTAB expression `{second} {minute} {hour} {day} {month} {day-of-week}`
 * (CronSchedule.TryCreate parses with IncludingSeconds, so five fields are rejected), or a TimeSpan
 * `hh:mm:ss` / `d.hh:mm:ss` (App Service plans: a fixed interval). `%Name%` is resolved from app
 * settings (environment). Fields accept `*`, numbers, names (JAN-DEC, SUN-SAT), ranges `a-b`,
 * steps `*\/n` `a-b/n` `a/n` and lists. As in NCrontab, day-of-month and day-of-week must both
 * match. Times are UTC (the host's default without WEBSITE_TIME_ZONE / TZ).
 */
export interface Schedule {
  readonly expression: string;
  /** First occurrence strictly after `afterMs`. */
  next(afterMs: number): number;
}

const monthNames = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const dayNames = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  min: number;
  max: number;
  names?: string[];
  namesStartAt?: number;
}

const fields: FieldSpec[] = [
  { min: 0, max: 59 },
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: monthNames, namesStartAt: 1 },
  { min: 0, max: 6, names: dayNames, namesStartAt: 0 },
];

export function parseSchedule(expression: string, settings: NodeJS.ProcessEnv = process.env): Schedule {
  const resolved = resolveSetting(expression.trim(), settings);
  const interval = parseTimeSpan(resolved);
  if (interval !== undefined) {
    if (interval <= 0) throw invalid(expression);
    return { expression: resolved, next: (after) => after + interval };
  }
  const parts = resolved.split(/\s+/);
  if (parts.length !== 6) throw invalid(expression);
  const sets = parts.map((part, index) => parseField(part, fields[index] as FieldSpec, expression));
  const [seconds, minutes, hours, days, months, weekdays] = sets as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  return {
    expression: resolved,
    next(afterMs: number): number {
      const t = new Date(Math.floor(afterMs / 1000) * 1000 + 1000);
      const limit = afterMs + 8 * 366 * 24 * 3600 * 1000;
      while (t.getTime() <= limit) {
        if (!months.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0, 0);
        } else if (!days.has(t.getUTCDate()) || !weekdays.has(t.getUTCDay())) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0, 0);
        } else if (!hours.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
        } else if (!minutes.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
        } else if (!seconds.has(t.getUTCSeconds())) {
          t.setUTCSeconds(t.getUTCSeconds() + 1, 0);
        } else {
          return t.getTime();
        }
      }
      throw new Error(`schedule '${expression}' has no occurrence in the next 8 years`);
    },
  };
}

function resolveSetting(expression: string, settings: NodeJS.ProcessEnv): string {
  const setting = /^%(.+)%$/.exec(expression);
  if (!setting) return expression;
  const value = settings[setting[1] ?? ''];
  if (value === undefined) throw new Error(`app setting '${setting[1] ?? ''}' (used by a timer schedule) is not defined`);
  return value.trim();
}

/** .NET TimeSpan.Parse forms used for schedules: [d.]hh:mm[:ss]. */
function parseTimeSpan(text: string): number | undefined {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?$/.exec(text);
  if (!m) return undefined;
  const [days, hours, minutes, seconds] = [m[1], m[2], m[3], m[4]].map((v) => Number(v ?? 0)) as [number, number, number, number];
  return (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000;
}

function parseField(text: string, spec: FieldSpec, expression: string): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [rangeText = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw invalid(expression);
    let from: number;
    let to: number;
    if (rangeText === '*') {
      from = spec.min;
      to = spec.max;
    } else if (rangeText.includes('-')) {
      const [a = '', b = ''] = rangeText.split('-');
      from = value(a, spec, expression);
      to = value(b, spec, expression);
    } else {
      from = value(rangeText, spec, expression);
      to = stepText === undefined ? from : spec.max;
    }
    if (from > to) throw invalid(expression);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

function value(text: string, spec: FieldSpec, expression: string): number {
  const named = spec.names?.indexOf(text.toUpperCase().slice(0, 3)) ?? -1;
  const n = named >= 0 && /^[a-z]+$/i.test(text) ? named + (spec.namesStartAt ?? 0) : Number(text);
  if (!Number.isInteger(n) || n < spec.min || n > spec.max) throw invalid(expression);
  return n;
}

function invalid(expression: string): Error {
  return new Error(`The schedule expression '${expression}' was not recognized as a valid cron expression or timespan string.`);
}
