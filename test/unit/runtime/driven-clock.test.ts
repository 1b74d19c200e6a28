import { EventType, ManualClock } from '../../../harness/local/runtime';
import { HTTP_APP, startRuntime, tempStateDir, WAIT } from './harness';

/** With a ManualClock the test moves time: durable timers and timer triggers fire on advance(). */
test('a one-hour durable timer fires when the clock is advanced', async () => {
  const state = tempStateDir();
  const clock = new ManualClock(Date.parse('2026-05-01T08:00:00.000Z'));
  const { runtime } = await startRuntime({ stateDir: state.dir, clock });
  try {
    const id = await runtime.client.startNew('WaitThenGreet', { input: { delayMs: 3_600_000 } });
    const waiting = await runtime.waitForInstance(id, { ...WAIT, until: (s) => !!s?.history.some((e) => e.EventType === EventType.TimerCreated) });
    const created = waiting.history.find((e) => e.EventType === EventType.TimerCreated);
    expect(created?.FireAt).toBe('2026-05-01T09:00:00.000Z');
    clock.advance(3_600_000);
    const done = await runtime.waitForInstance(id, WAIT);
    expect(JSON.parse(done.output ?? 'null')).toBe('Hello after the timer');
  } finally {
    await runtime.stop();
    state.remove();
  }
});

test('timer triggers fire on their NCRONTAB schedule', async () => {
  const state = tempStateDir();
  const clock = new ManualClock(Date.parse('2026-05-01T08:00:10.000Z'));
  const { runtime, logs } = await startRuntime({ stateDir: state.dir, clock, appModule: HTTP_APP, scheduleTimers: true });
  try {
    expect(runtime.listInstances().filter((s) => s.name === 'Echo')).toHaveLength(0);
    clock.advance(20_000); // reaches 08:00:30, the next "*/30 * * * * *" occurrence
    const created = await logs.next((e) => e.event === 'instance.created' && e.name === 'Echo');
    const done = await runtime.waitForInstance(String(created.instanceId), WAIT);
    const timer = JSON.parse(done.output ?? 'null') as { scheduleStatus: { next: string } };
    expect(timer.scheduleStatus.next).toBe('2026-05-01T08:01:00.000Z');
  } finally {
    await runtime.stop();
    state.remove();
  }
});
