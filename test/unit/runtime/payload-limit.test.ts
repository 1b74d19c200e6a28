import { resolve } from 'node:path';
import { EventType } from '../../../harness/local/runtime';
import { DTS_MAX_PAYLOAD_BYTES } from '../../../harness/local/runtime/durable/payload-limit';
import { startRuntime, tempStateDir, WAIT } from './harness';

/**
 * The Durable Task Scheduler refuses payloads above 1 MB (orchestration input and output, activity
 * input and output, external events); the runtime enforces it when its backend is DTS, the default
 * (host.json azureManaged). Azure Storage spills large messages to blobs: no limit there.
 */
const PAYLOAD_APP = resolve(__dirname, '../../fixtures/runtime/payload-app.ts');
/** A string whose JSON text is exactly the limit: its characters plus the two quotes. */
const AT_LIMIT = DTS_MAX_PAYLOAD_BYTES - 2;

async function withRuntime(body: (runtime: Awaited<ReturnType<typeof startRuntime>>) => Promise<void>, options: { durableBackend?: 'dts' | 'azure-storage' } = {}): Promise<void> {
  const state = tempStateDir();
  const started = await startRuntime({ stateDir: state.dir, appModule: PAYLOAD_APP, ...options });
  try {
    await body(started);
  } finally {
    await started.runtime.stop();
    state.remove();
  }
}

test('the default backend is the Durable Task Scheduler, with its 1 MB limit', async () => {
  await withRuntime(async ({ runtime }) => {
    expect(runtime.platform).toMatchObject({ durableBackend: 'dts', maxPayloadBytes: 1_000_000, dispatchLatency: { backend: 'none' } });
  });
});

test('startNew with an input above 1 MB is refused and creates nothing; one at the limit runs', async () => {
  await withRuntime(async ({ runtime }) => {
    await expect(runtime.client.startNew('Echo', { instanceId: 'too-big', input: 'x'.repeat(AT_LIMIT + 1) })).rejects.toThrow(
      /unexpected status code: 500.*Status\(StatusCode=\\"InvalidArgument\\", Detail=\\"The input of orchestration 'Echo' is 1,000,001 bytes, more than the 1,000,000 bytes \(1 MB\) the Durable Task Scheduler accepts per payload/,
    );
    expect(runtime.getInstance('too-big')).toBeUndefined();
    const id = await runtime.client.startNew('Echo', { instanceId: 'at-limit', input: 'x'.repeat(AT_LIMIT) });
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.output?.length).toBe(DTS_MAX_PAYLOAD_BYTES);
  });
});

test('an external event above 1 MB is refused; the instance keeps waiting for one that fits', async () => {
  await withRuntime(async ({ runtime }) => {
    const id = await runtime.client.startNew('AwaitBig');
    await runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' && s.inbox.length === 0 });
    await expect(runtime.client.raiseEvent(id, 'Big', 'x'.repeat(AT_LIMIT + 1))).rejects.toThrow(/Detail=\\"The event 'Big' is 1,000,001 bytes/);
    expect(runtime.getInstance(id)?.history.some((e) => e.EventType === EventType.EventRaised)).toBe(false);
    await runtime.client.raiseEvent(id, 'Big', 'x'.repeat(AT_LIMIT));
    const done = await runtime.waitForInstance(id, WAIT);
    expect(JSON.parse(done.output ?? 'null')).toBe(AT_LIMIT);
  });
});

test('an activity result above 1 MB fails that task; the orchestration can catch it', async () => {
  await withRuntime(async ({ runtime }) => {
    const id = await runtime.client.startNew('ProduceThenReport', { input: AT_LIMIT + 1 });
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Completed');
    const output = JSON.parse(done.output ?? 'null') as { caught?: string };
    expect(output.caught).toMatch(/^Activity function 'Produce' failed: Status\(StatusCode="InvalidArgument", Detail="The output of activity 'Produce' is 1,000,001 bytes/);
    const failed = done.history.find((e) => e.EventType === EventType.TaskFailed);
    expect(failed?.Reason).toMatch(/^Activity function 'Produce' failed: /);
    expect(done.history.some((e) => e.EventType === EventType.TaskCompleted)).toBe(false);

    const fits = await runtime.client.startNew('ProduceThenReport', { input: AT_LIMIT });
    expect(JSON.parse((await runtime.waitForInstance(fits, WAIT)).output ?? 'null')).toEqual({ length: AT_LIMIT });
  });
});

test('an activity input above 1 MB fails the orchestration before anything is scheduled', async () => {
  await withRuntime(async ({ runtime, logs }) => {
    const id = await runtime.client.startNew('SendBig', { input: AT_LIMIT + 1 });
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Failed');
    expect(JSON.parse(done.output ?? 'null')).toMatch(/^Orchestrator function 'SendBig' failed: Status\(StatusCode="InvalidArgument", Detail="The input of activity 'Measure' is 1,000,001 bytes/);
    expect(done.history.some((e) => e.EventType === EventType.TaskScheduled)).toBe(false);
    expect(logs.entries.some((e) => e.event === 'activity.started')).toBe(false);
  });
});

test('an orchestration output above 1 MB fails the orchestration', async () => {
  await withRuntime(async ({ runtime }) => {
    const id = await runtime.client.startNew('Echo', { input: { chars: AT_LIMIT + 1 } });
    const done = await runtime.waitForInstance(id, WAIT);
    expect(done.runtimeStatus).toBe('Failed');
    expect(JSON.parse(done.output ?? 'null')).toMatch(/^Orchestrator function 'Echo' failed: .*The orchestration output is 1,000,001 bytes/);
  });
});

test('the Azure Storage backend has no payload limit (large messages spill to blobs)', async () => {
  await withRuntime(
    async ({ runtime }) => {
      expect(runtime.platform.maxPayloadBytes).toBeUndefined();
      const id = await runtime.client.startNew('ProduceThenReport', { input: AT_LIMIT + 1 });
      expect(JSON.parse((await runtime.waitForInstance(id, WAIT)).output ?? 'null')).toEqual({ length: AT_LIMIT + 1 });
      const sent = await runtime.client.startNew('SendBig', { input: AT_LIMIT + 1 });
      expect(JSON.parse((await runtime.waitForInstance(sent, WAIT)).output ?? 'null')).toBe(AT_LIMIT + 1);
    },
    { durableBackend: 'azure-storage' },
  );
});
