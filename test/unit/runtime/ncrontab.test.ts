import { parseSchedule } from '../../../harness/local/runtime';

const at = (iso: string): number => Date.parse(iso);
const next = (expression: string, after: string, settings: NodeJS.ProcessEnv = {}): string =>
  new Date(parseSchedule(expression, settings).next(at(after))).toISOString();

test('six-field NCRONTAB with seconds', () => {
  expect(next('*/30 * * * * *', '2026-03-02T10:00:10.500Z')).toBe('2026-03-02T10:00:30.000Z');
  expect(next('*/30 * * * * *', '2026-03-02T10:00:30.000Z')).toBe('2026-03-02T10:01:00.000Z');
  expect(next('0 */5 * * * *', '2026-03-02T10:03:00.000Z')).toBe('2026-03-02T10:05:00.000Z');
  expect(next('0 30 9 * * MON-FRI', '2026-03-07T12:00:00.000Z')).toBe('2026-03-09T09:30:00.000Z'); // Sat -> Mon
  expect(next('0 0 0 29 FEB *', '2026-03-01T00:00:00.000Z')).toBe('2028-02-29T00:00:00.000Z');
  expect(next('15,45 0-1 12 1 JAN,jul *', '2026-01-01T12:01:50.000Z')).toBe('2026-07-01T12:00:15.000Z');
});

test('day-of-month and day-of-week must both match (NCrontab semantics)', () => {
  expect(next('0 0 0 13 * FRI', '2026-01-01T00:00:00.000Z')).toBe('2026-02-13T00:00:00.000Z');
});

test('TimeSpan schedules and %AppSetting% references', () => {
  expect(next('00:05:00', '2026-03-02T10:00:00.000Z')).toBe('2026-03-02T10:05:00.000Z');
  expect(next('1.00:00:00', '2026-03-02T10:00:00.000Z')).toBe('2026-03-03T10:00:00.000Z');
  expect(next('%HEALTH_SCHEDULE%', '2026-03-02T10:00:00.000Z', { HEALTH_SCHEDULE: '0 0 * * * *' })).toBe('2026-03-02T11:00:00.000Z');
  expect(() => parseSchedule('%MISSING%', {})).toThrow("app setting 'MISSING'");
});

test('expressions the host rejects are rejected', () => {
  for (const bad of ['*/5 * * * *', '60 * * * * *', '* * 24 * * *', '* * * 0 * *', '*/0 * * * * *', 'every minute']) {
    expect(() => parseSchedule(bad, {})).toThrow('was not recognized as a valid cron expression or timespan string');
  }
});
