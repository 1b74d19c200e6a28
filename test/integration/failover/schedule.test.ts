import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRuntime, ManualClock } from '../../../harness/local/runtime';

/**
 * The health check's schedule: the app setting HEALTH_CHECK_SCHEDULE as a %...% binding
 * expression when it is set (the host resolves it), every 5 s otherwise. Timers are scheduled on
 * a manual clock that never moves, so nothing fires; no lab is needed.
 */
describe('the health check schedule', () => {
  const SETTING = 'HEALTH_CHECK_SCHEDULE';
  const appModule = join(__dirname, '../../../src/index.ts');

  async function scheduled(setting: string): Promise<{ schedule: unknown; next: unknown }> {
    const stateDir = mkdtempSync(join(tmpdir(), 'pgfo-schedule-'));
    const previous = process.env[SETTING];
    process.env[SETTING] = setting;
    const lines: Record<string, unknown>[] = [];
    const runtime = await LocalRuntime.start({ stateDir, appModule, scheduleTimers: true, clock: new ManualClock(Date.UTC(2026, 0, 1)), log: (line) => lines.push(JSON.parse(line)) });
    try {
      const registered = runtime.functions().find((f) => f.name === 'healthCheck')!;
      const entry = lines.find((l) => l.event === 'timer.scheduled' && l.function === 'healthCheck')!;
      return { schedule: registered.trigger.schedule, next: entry.next };
    } finally {
      await runtime.stop();
      if (previous === undefined) delete process.env[SETTING];
      else process.env[SETTING] = previous;
      rmSync(stateDir, { recursive: true, force: true });
    }
  }

  // The app registers its functions once per process, so one case per file: the default (every
  // 5 s) is checked in app-cut-off.test.ts.
  it('is the app setting when it is set', async () => {
    expect(await scheduled('0 */5 * * * *')).toEqual({ schedule: '%HEALTH_CHECK_SCHEDULE%', next: '2026-01-01T00:05:00.000Z' });
  });
});
