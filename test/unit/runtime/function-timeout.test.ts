import { EventType, ManualClock } from '../../../harness/local/runtime';
import { parseFunctionTimeout } from '../../../harness/local/runtime/host/function-timeout';
import { gate } from '../../fixtures/runtime/test-hooks';
import { startRuntime, tempStateDir, WAIT } from './harness';

/** host.json functionTimeout bounds every activity attempt, as the Functions host does. */
describe('functionTimeout', () => {
  it('parses host.json TimeSpans and refuses what the host would not take', () => {
    expect(parseFunctionTimeout('00:10:00').ms).toBe(600_000);
    expect(parseFunctionTimeout('1.02:00:00').ms).toBe(26 * 3_600_000);
    expect(parseFunctionTimeout('00:00:01.5').ms).toBe(1_500);
    expect(() => parseFunctionTimeout('10m')).toThrow(/TimeSpan/);
    expect(() => parseFunctionTimeout('00:00:00')).toThrow(/positive/);
  });

  it('fails an activity attempt that runs past it with the host\'s error', async () => {
    const state = tempStateDir();
    const clock = new ManualClock(Date.parse('2026-05-01T08:00:00.000Z'));
    const { runtime, logs } = await startRuntime({ stateDir: state.dir, clock, functionTimeout: '00:10:00' });
    try {
      const id = await runtime.client.startNew('GatedActivity', { input: 'slow' });
      await logs.next((e) => e.event === 'activity.started' && e.name === 'Gated');
      clock.advance(599_000);
      expect(runtime.getInstance(id)?.runtimeStatus).toBe('Running');
      clock.advance(1_000);
      const done = await runtime.waitForInstance(id, WAIT);
      expect(done.runtimeStatus).toBe('Failed');
      const failed = done.history.find((e) => e.EventType === EventType.TaskFailed);
      expect(failed?.Reason).toBe("Activity function 'Gated' failed: Timeout value of 00:10:00 was exceeded by function: Functions.Gated");
      expect(logs.entries.filter((e) => e.event === 'activity.timedOut')).toEqual([expect.objectContaining({ name: 'Gated', functionTimeout: '00:10:00' })]);
    } finally {
      gate('slow').release();
      await runtime.stop();
      state.remove();
    }
  });
});
