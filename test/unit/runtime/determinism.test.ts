import type { LocalRuntime } from '../../../harness/local/runtime';
import { EventType } from '../../../harness/local/runtime';
import { startRuntime, tempStateDir, WAIT } from './harness';

let runtime: LocalRuntime;
const state = tempStateDir();

beforeAll(async () => {
  ({ runtime } = await startRuntime({ stateDir: state.dir }));
});

afterAll(async () => {
  await runtime.stop();
  state.remove();
});

test('an orchestrator that replays differently fails loudly with the instance id and the first differing action', async () => {
  // NonDeterministic calls Greet on its first run and Farewell on every replay (module counter).
  const id = await runtime.client.startNew('NonDeterministic', { instanceId: 'nondet-1' });
  const done = await runtime.waitForInstance(id, WAIT);
  expect(done.runtimeStatus).toBe('Failed');
  const message = JSON.parse(done.output ?? 'null') as string;
  expect(message).toContain("orchestration instance 'nondet-1'");
  expect(message).toContain("orchestrator 'NonDeterministic'");
  expect(message).toContain('action #0');
  expect(message).toContain('expected CallActivity {"actionType":"CallActivity","functionName":"Greet","input":"\\"world\\""}');
  expect(message).toContain('produced CallActivity {"actionType":"CallActivity","functionName":"Farewell","input":"\\"world\\""}');
  // The failure is recorded in the history and visible through the SDK client, as in Azure.
  expect(done.history.some((e) => e.EventType === EventType.ExecutionCompleted && e.OrchestrationStatus === 'Failed')).toBe(true);
  const status = await runtime.client.getStatus(id);
  expect(status.runtimeStatus).toBe('Failed');
  expect(status.output).toBe(message);
});
