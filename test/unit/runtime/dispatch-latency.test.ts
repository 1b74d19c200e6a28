import { EventType, ManualClock, type InstanceState, type LocalRuntime } from '../../../harness/local/runtime';
import { nextPollAt, resolveDispatchLatency, type DispatchLatencyOption } from '../../../harness/local/runtime/durable/dispatch-latency';
import { durableBackendOf } from '../../../harness/local/runtime/host/durable-backend';
import { deploymentPlatform, describeDeploymentPlatform } from '../../../harness/local/deployment-platform';
import { LogCollector, startRuntime, tempStateDir, WAIT } from './harness';

/**
 * The Durable backend's dispatch latency (harness/local/runtime/durable/dispatch-latency.ts), on a
 * ManualClock: every wait is a clock timer, so the test moves time by exactly the modelled amount
 * and reads it back from the history's timestamps.
 */
const T0 = Date.parse('2026-05-01T08:00:00.000Z');

/** Each dispatch the model delayed, in order: the test takes them one at a time. */
class Dispatches {
  private readonly taken = new Set<Record<string, unknown>>();
  constructor(private readonly logs: LogCollector) {}

  async next(): Promise<Record<string, unknown>> {
    const entry = await this.logs.next((e) => e.event === 'dispatch.delayed' && !this.taken.has(e));
    this.taken.add(entry);
    return entry;
  }
}

async function withClock(
  dispatchLatency: DispatchLatencyOption | undefined,
  body: (context: { runtime: LocalRuntime; clock: ManualClock; logs: LogCollector; dispatches: Dispatches }) => Promise<void>,
): Promise<void> {
  const state = tempStateDir();
  const clock = new ManualClock(T0);
  const { runtime, logs } = await startRuntime({ stateDir: state.dir, clock, ...(dispatchLatency ? { dispatchLatency } : {}) });
  try {
    await body({ runtime, clock, logs, dispatches: new Dispatches(logs) });
  } finally {
    await runtime.stop();
    state.remove();
  }
}

/** Milliseconds after T0 at which events of `type` were written. */
const at = (state: InstanceState, type: number): number[] => state.history.filter((e) => e.EventType === type).map((e) => Date.parse(e.Timestamp) - T0);

const AZURE_STORAGE_1S: DispatchLatencyOption = { backend: 'azure-storage', dispatchMs: 40, maxQueuePollingIntervalMs: 1000, coldStart: { alwaysReady: true } };

describe('the model', () => {
  test('an Azure Storage poller backs off 50, 100, 150, 250, 450, 850 ms, then polls every maxQueuePollingInterval', () => {
    const polls: number[] = [];
    for (let p = 0; polls.length < 9; p = nextPollAt(0, p + 1, 1000)) polls.push(p);
    expect(polls).toEqual([0, 50, 150, 300, 550, 1000, 1850, 2850, 3850]);
    // With the extension's 30 s default the back-off reaches the cap after 51.7 s of empty polls.
    expect(nextPollAt(0, 60_000, 30_000)).toBe(81_700);
  });

  test('when idle, a message waits between 0 and maxQueuePollingInterval for the next poll: half of it on average', () => {
    const max = 1000;
    const idleFrom = 3850; // the poller already polls every `max`
    const waits = Array.from({ length: max }, (_, phase) => nextPollAt(0, idleFrom + phase + 1, max) - (idleFrom + phase + 1));
    expect(Math.min(...waits)).toBe(0);
    expect(Math.max(...waits)).toBe(max - 1);
    // Arrivals spread evenly over one interval (whole milliseconds): the mean wait is (max − 1) / 2.
    expect(waits.reduce((sum, w) => sum + w, 0) / waits.length).toBe((max - 1) / 2);
  });

  test('profiles: none by default; DTS and Azure Storage with their stated figures', () => {
    expect(resolveDispatchLatency()).toMatchObject({ backend: 'none', dispatchMs: 0 });
    expect(resolveDispatchLatency('dts')).toEqual({ backend: 'dts', dispatchMs: 50, maxQueuePollingIntervalMs: 0, coldStart: { alwaysReady: true, idleMs: 120_000, delayMs: 30_000 } });
    expect(resolveDispatchLatency('azure-storage')).toMatchObject({ backend: 'azure-storage', dispatchMs: 50, maxQueuePollingIntervalMs: 30_000 });
  });

  test('host.json names the backend; AzureFunctionsJobHost__ app settings override it (as the Bicep does for Azure Storage)', () => {
    const hostJson = { type: 'azureManaged', connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' };
    expect(durableBackendOf(hostJson)).toMatchObject({ backend: 'dts' });
    expect(durableBackendOf({})).toMatchObject({ backend: 'azure-storage', maxQueuePollingInterval: '00:00:30', maxQueuePollingIntervalMs: 30_000 });
    const overrides = {
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'AzureStorage',
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval: '00:00:01',
    };
    expect(durableBackendOf(hostJson, overrides)).toEqual({ backend: 'azure-storage', maxQueuePollingInterval: '00:00:01', maxQueuePollingIntervalMs: 1000 });
  });

  test('the deployment as shipped: DTS, always-ready durable and http instances, so no cold start; Azure Storage polls at most every 1 s', () => {
    const shipped = deploymentPlatform();
    expect(shipped).toMatchObject({ backend: 'dts', alwaysReady: { durable: 1, http: 1 }, dispatchLatency: { backend: 'dts', dispatchMs: 50, coldStart: { alwaysReady: true } } });
    const lines = describeDeploymentPlatform(shipped).join('\n');
    expect(lines).toMatch(/Durable Task Scheduler/);
    expect(lines).toMatch(/maxQueuePollingInterval: does not apply .* Bicep sets 00:00:01 for the AzureStorage backend/);
    expect(lines).toMatch(/always-ready instances \(main.bicep defaults\): durable 1, http 1, so no cold start/);
    expect(lines).toMatch(/\+50 ms per dispatch/);
    expect(deploymentPlatform({ backend: 'azure-storage' })).toMatchObject({ maxQueuePollingInterval: '00:00:01', dispatchLatency: { backend: 'azure-storage', maxQueuePollingIntervalMs: 1000 } });
  });
});

describe('in the runtime, on a ManualClock', () => {
  test('(a) Azure Storage: an activity the worker enqueued starts after the dispatch cost; a client event waits for the next poll', async () => {
    await withClock(AZURE_STORAGE_1S, async ({ runtime, clock, logs, dispatches }) => {
      const id = await runtime.client.startNew('WaitForGo');
      // The client's start: the poller has just started, so it polls at once; +40 ms.
      expect(await dispatches.next()).toMatchObject({ kind: 'episode', instanceId: id, woken: false, pollMs: 0, waitMs: 40 });
      clock.advance(39);
      expect(clock.armedTimers).toBe(1); // still waiting
      clock.advance(1);
      await runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' && s.inbox.length === 0 });

      // 10.06 s idle: the instance's poller backed off to 1 s and polls at +1850 + k·1000 ms after
      // its last pickup (T0); an event raised at T0+10 100 ms waits until T0+10 850 ms.
      clock.advance(10_060);
      await runtime.client.raiseEvent(id, 'Go', 'Lisbon');
      expect(await dispatches.next()).toMatchObject({ kind: 'episode', woken: false, pollMs: 750, waitMs: 790 });
      clock.advance(789);
      expect(clock.armedTimers).toBe(1);
      clock.advance(1);

      // The episode schedules Greet: the worker enqueued it itself, so the poller is woken; +40 ms.
      expect(await dispatches.next()).toMatchObject({ kind: 'activity', woken: true, pollMs: 0, waitMs: 40 });
      clock.advance(39);
      expect(clock.armedTimers).toBe(1);
      expect(logs.entries.some((e) => e.event === 'activity.started')).toBe(false);
      clock.advance(1);
      await logs.next((e) => e.event === 'activity.started');
      // Its result comes back to the instance the same way.
      expect(await dispatches.next()).toMatchObject({ kind: 'episode', woken: true, pollMs: 0, waitMs: 40 });
      clock.advance(40);

      const done = await runtime.waitForInstance(id, WAIT);
      expect(JSON.parse(done.output ?? 'null')).toBe('Hello Lisbon');
      expect(at(done, EventType.EventRaised)).toEqual([10_100]);
      expect(at(done, EventType.OrchestratorStarted)).toEqual([40, 10_890, 10_970]);
      expect(at(done, EventType.TaskScheduled)).toEqual([10_890]);
      expect(at(done, EventType.TaskCompleted)).toEqual([10_930]);
    });
  });

  test('(b) cold start: after the idle period without always-ready instances the next dispatch waits for an instance', async () => {
    const coldProfile: DispatchLatencyOption = { backend: 'dts', dispatchMs: 50, coldStart: { alwaysReady: false, idleMs: 120_000, delayMs: 30_000 } };
    await withClock(coldProfile, async ({ runtime, clock, logs, dispatches }) => {
      const first = await runtime.client.startNew('HelloSequence', { input: ['A'] });
      for (const kind of ['episode', 'activity', 'episode']) {
        expect(await dispatches.next()).toMatchObject({ kind, waitMs: 50, coldStartMs: 0 });
        clock.advance(50);
      }
      expect((await runtime.waitForInstance(first, WAIT)).runtimeStatus).toBe('Completed');

      clock.advance(120_001); // idle longer than the idle period since the last dispatch
      const second = await runtime.client.startNew('HelloSequence', { input: ['B'] });
      expect(await dispatches.next()).toMatchObject({ kind: 'episode', coldStartMs: 30_000, waitMs: 30_050 });
      expect(logs.entries.filter((e) => e.event === 'dispatch.coldStart')).toHaveLength(1);
      clock.advance(30_050);
      // The instance is up: the rest pays the backend's dispatch only.
      for (const kind of ['activity', 'episode']) {
        expect(await dispatches.next()).toMatchObject({ kind, waitMs: 50, coldStartMs: 0 });
        clock.advance(50);
      }
      const done = await runtime.waitForInstance(second, WAIT);
      const created = Date.parse(done.createdTime) - T0;
      expect(at(done, EventType.OrchestratorStarted).map((t) => t - created)).toEqual([30_050, 30_150]);
    });
  });

  test('(b) with always-ready instances the same idle period costs no cold start', async () => {
    const warmProfile: DispatchLatencyOption = { backend: 'dts', dispatchMs: 50, coldStart: { alwaysReady: true, idleMs: 120_000, delayMs: 30_000 } };
    await withClock(warmProfile, async ({ runtime, clock, logs, dispatches }) => {
      clock.advance(600_000);
      const id = await runtime.client.startNew('HelloSequence', { input: ['A'] });
      for (const kind of ['episode', 'activity', 'episode']) {
        expect(await dispatches.next()).toMatchObject({ kind, waitMs: 50, coldStartMs: 0 });
        clock.advance(50);
      }
      expect((await runtime.waitForInstance(id, WAIT)).runtimeStatus).toBe('Completed');
      expect(logs.entries.some((e) => e.event === 'dispatch.coldStart')).toBe(false);
    });
  });

  test('(c) the default profile dispatches at once: nothing waits on the clock', async () => {
    await withClock(undefined, async ({ runtime, clock, logs }) => {
      expect(runtime.platform.dispatchLatency.backend).toBe('none');
      const id = await runtime.client.startNew('HelloSequence', { input: ['A', 'B'] });
      const done = await runtime.waitForInstance(id, WAIT); // the clock never moves
      expect(done.runtimeStatus).toBe('Completed');
      expect(new Set(done.history.map((e) => e.Timestamp))).toEqual(new Set([new Date(T0).toISOString()]));
      expect(logs.entries.some((e) => e.event === 'dispatch.delayed')).toBe(false);
      expect(clock.armedTimers).toBe(0);
    });
  });

  test('stopping the runtime ends pending dispatch waits; an activity not yet dispatched never starts', async () => {
    const state = tempStateDir();
    const clock = new ManualClock(T0);
    const { runtime, logs } = await startRuntime({ stateDir: state.dir, clock, dispatchLatency: 'dts' });
    const dispatches = new Dispatches(logs);
    try {
      await runtime.client.startNew('HelloSequence', { input: ['A'] });
      await dispatches.next();
      clock.advance(50);
      expect(await dispatches.next()).toMatchObject({ kind: 'activity' });
    } finally {
      await runtime.stop(); // would hang if the activity's wait were left on the clock
      state.remove();
    }
    expect(logs.entries.some((e) => e.event === 'activity.started')).toBe(false);
  });
});
