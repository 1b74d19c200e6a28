import { EventType, ManualClock, type InstanceState } from '../../../harness/local/runtime';
import { gate, testHooks } from '../../fixtures/runtime/test-hooks';
import { startRuntime, tempStateDir, WAIT } from './harness';

/**
 * A runtime stopped mid-instance and a new one started on the same state directory: the new one
 * continues from the stored history (timers re-armed, pending activities re-run, events delivered).
 */
const count = (s: InstanceState | undefined, type: number): number => s?.history.filter((e) => e.EventType === type).length ?? 0;

test('stopped while waiting on a durable timer: the next runtime re-arms it and finishes', async () => {
  const state = tempStateDir();
  try {
    // The first runtime's clock never moves, so its timer cannot fire before it stops; the second
    // runtime uses the real clock.
    const first = await startRuntime({ stateDir: state.dir, clock: new ManualClock(Date.now()) });
    const id = await first.runtime.client.startNew('WaitThenGreet', { instanceId: 'timer-restart', input: { delayMs: 300 } });
    await first.runtime.waitForInstance(id, { ...WAIT, until: (s) => count(s, EventType.TimerCreated) === 1 });
    await first.runtime.stop();
    expect(first.runtime.getInstance(id)?.runtimeStatus).toBe('Running');

    const second = await startRuntime({ stateDir: state.dir });
    try {
      const done = await second.runtime.waitForInstance(id, WAIT);
      expect(done.runtimeStatus).toBe('Completed');
      expect(JSON.parse(done.output ?? 'null')).toBe('Hello after the timer');
      expect(count(done, EventType.TimerCreated)).toBe(1);
      expect(count(done, EventType.TimerFired)).toBe(1);
      expect(second.logs.entries.some((e) => e.event === 'instance.resumed' && e.instanceId === id)).toBe(true);
    } finally {
      await second.runtime.stop();
    }
  } finally {
    state.remove();
  }
});

test('stopped while waiting on an external event: the event raised on the next runtime completes it', async () => {
  const state = tempStateDir();
  try {
    const first = await startRuntime({ stateDir: state.dir });
    const id = await first.runtime.client.startNew('WaitForGo', { instanceId: 'event-restart' });
    await first.runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' });
    await first.runtime.stop();

    const second = await startRuntime({ stateDir: state.dir });
    try {
      expect((await second.runtime.client.getStatus(id)).runtimeStatus).toBe('Running');
      await second.runtime.client.raiseEvent(id, 'Go', 'again');
      const done = await second.runtime.waitForInstance(id, WAIT);
      expect(JSON.parse(done.output ?? 'null')).toBe('Hello again');
    } finally {
      await second.runtime.stop();
    }
  } finally {
    state.remove();
  }
});

test('stopped while an activity runs: its late result is discarded and the next runtime re-runs it', async () => {
  const state = tempStateDir();
  try {
    const first = await startRuntime({ stateDir: state.dir });
    const id = await first.runtime.client.startNew('GatedActivity', { instanceId: 'activity-restart', input: 'gate-1' });
    await first.logs.next((e) => e.event === 'activity.started' && e.instanceId === id);
    const stopping = first.runtime.stop();
    gate('gate-1').release();
    await stopping;
    expect(count(first.runtime.getInstance(id), EventType.TaskCompleted)).toBe(0);

    const second = await startRuntime({ stateDir: state.dir });
    try {
      const done = await second.runtime.waitForInstance(id, WAIT);
      expect(JSON.parse(done.output ?? 'null')).toBe('passed gate-1');
      expect(testHooks().invocations.get('Gated:gate-1')).toBe(2);
      expect(count(done, EventType.TaskScheduled)).toBe(1);
      expect(count(done, EventType.TaskCompleted)).toBe(1);
    } finally {
      await second.runtime.stop();
    }
  } finally {
    state.remove();
  }
});

test('finished instances stay queryable from a new runtime', async () => {
  const state = tempStateDir();
  try {
    const first = await startRuntime({ stateDir: state.dir });
    const id = await first.runtime.client.startNew('HelloSequence', { instanceId: 'kept', input: ['x'] });
    await first.runtime.waitForInstance(id, WAIT);
    await first.runtime.stop();
    const second = await startRuntime({ stateDir: state.dir });
    try {
      const status = await second.runtime.client.getStatus(id);
      expect(status.runtimeStatus).toBe('Completed');
      expect(status.output).toEqual(['Hello x']);
    } finally {
      await second.runtime.stop();
    }
  } finally {
    state.remove();
  }
});
