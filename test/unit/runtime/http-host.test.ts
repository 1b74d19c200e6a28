import { HttpRequest } from '@azure/functions';
import type { LocalRuntime } from '../../../harness/local/runtime';
import { HTTP_APP, startRuntime, tempStateDir, WAIT } from './harness';

/** The func-start-like HTTP host and the durable client as an HTTP-triggered function uses it. */
let runtime: LocalRuntime;
let origin: string;
const state = tempStateDir();

beforeAll(async () => {
  ({ runtime } = await startRuntime({ stateDir: state.dir, appModule: HTTP_APP, functionKey: 'fn-key', masterKey: 'master-key' }));
  origin = await runtime.http.listen(0);
});

afterAll(async () => {
  await runtime.stop();
  state.remove();
});

const post = (path: string, headers: Record<string, string> = {}, body = '{}') =>
  fetch(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

test('authLevel function: 401 without a key or with a wrong one', async () => {
  expect((await post('/api/clusters/c0/switchover')).status).toBe(401);
  expect((await post('/api/clusters/c0/switchover', { 'x-functions-key': 'nope' })).status).toBe(401);
  expect((await post('/api/clusters/c0/switchover?code=nope')).status).toBe(401);
});

test('startNew through df.getClient inside the handler returns the check-status response', async () => {
  const response = await post('/api/clusters/c1/switchover', { 'x-functions-key': 'fn-key' }, JSON.stringify({ names: ['n1'] }));
  expect(response.status).toBe(202);
  const body = (await response.json()) as Record<string, string>;
  expect(body.id).toBe('switchover-c1');
  expect(body.statusQueryGetUri).toBe(
    `${origin}/runtime/webhooks/durabletask/instances/switchover-c1?taskHub=TestHubName&connection=Storage&code=${encodeURIComponent(runtime.keys.systemKey)}`,
  );
  expect(response.headers.get('location')).toBe(body.statusQueryGetUri);
  expect(response.headers.get('retry-after')).toBe('10');
  expect(Object.keys(body).sort()).toEqual(
    ['id', 'purgeHistoryDeleteUri', 'restartPostUri', 'resumePostUri', 'sendEventPostUri', 'statusQueryGetUri', 'suspendPostUri', 'terminatePostUri', 'rewindPostUri'].sort(),
  );
  await runtime.waitForInstance('switchover-c1', WAIT);
  // The management link works against the same host, with the system key it carries.
  const status = await fetch(`${body.statusQueryGetUri}&showHistory=true&showHistoryOutput=true`);
  expect(status.status).toBe(200);
  const payload = (await status.json()) as { runtimeStatus: string; output: unknown; historyEvents: Array<Record<string, unknown>> };
  expect(payload.runtimeStatus).toBe('Completed');
  expect(payload.output).toEqual(['Hello n1']);
  expect(payload.historyEvents.map((e) => e.EventType)).toEqual(['ExecutionStarted', 'TaskCompleted', 'ExecutionCompleted']);
  expect(payload.historyEvents[1]).toMatchObject({ FunctionName: 'Greet', Result: 'Hello n1' });
  // Without the key the webhook refuses, like the extension's system-key check.
  expect((await fetch(body.statusQueryGetUri.replace(/&code=.*$/, ''))).status).toBe(401);
});

test('a second startNew with the id of a running instance fails as in Azure (OrchestrationAlreadyExists)', async () => {
  const id = await runtime.client.startNew('WaitForGo', { instanceId: 'single-flight' });
  await runtime.waitForInstance(id, { ...WAIT, until: (s) => s?.runtimeStatus === 'Running' });
  await expect(runtime.client.startNew('WaitForGo', { instanceId: 'single-flight' })).rejects.toThrow(
    /unexpected status code: 500.*An Orchestration instance with the status Running already exists\./,
  );
  await runtime.client.raiseEvent(id, 'Go', 'done');
  await runtime.waitForInstance(id, WAIT);
  // A finished instance is replaced by a new one with the same id.
  await expect(runtime.client.startNew('WaitForGo', { instanceId: 'single-flight' })).resolves.toBe('single-flight');
  expect(runtime.getInstance('single-flight')?.runtimeStatus).not.toBe('Completed');
});

test('getStatus of an unknown instance id throws the SDK\'s 404 error; the route maps it to 404', async () => {
  await expect(runtime.client.getStatus('no-such-instance')).rejects.toThrow(
    'DurableClient error: Durable Functions extension replied with HTTP 404 response. This usually means we could not find any data associated with the instanceId provided: no-such-instance.',
  );
  const response = await fetch(`${origin}/api/instances/no-such-instance`);
  expect(response.status).toBe(404);
  expect(((await response.json()) as { error: string }).error).toContain('HTTP 404');
});

test('unknown orchestrator: 400 from the API, surfaced by startNew', async () => {
  await expect(runtime.client.startNew('NotAnOrchestrator')).rejects.toThrow(/status code: 400.*The function 'NotAnOrchestrator' doesn't exist/);
});

test('routes: methods, admin level, unknown paths, route parameters', async () => {
  expect((await fetch(`${origin}/api/clusters/c2/switchover`, { headers: { 'x-functions-key': 'fn-key' } })).status).toBe(404);
  expect((await fetch(`${origin}/api/admin-only`, { headers: { 'x-functions-key': 'fn-key' } })).status).toBe(401);
  const admin = await fetch(`${origin}/api/admin-only?code=master-key`);
  expect(admin.status).toBe(200);
  expect(await admin.text()).toBe('secret');
  expect((await fetch(`${origin}/api/nowhere`)).status).toBe(404);
  expect((await fetch(`${origin}/API/Instances/no-such-instance`)).status).toBe(404);
});

test('invokeHttp calls a handler with a real HttpRequest and returns its HttpResponse', async () => {
  const response = await runtime.invokeHttp(
    'StartSequence',
    new HttpRequest({ url: 'http://localhost:7071/api/clusters/c3/switchover', method: 'POST', body: { string: '{"names":["z"]}' } }),
  );
  expect(response.status).toBe(202);
  expect(((await response.json()) as { id: string }).id).toBe('switchover-c3');
  const done = await runtime.waitForInstance('switchover-c3', WAIT);
  expect(JSON.parse(done.output ?? 'null')).toEqual(['Hello z']);
});

test('registrations keep their options (route, methods, authLevel, schedule, extra inputs)', () => {
  const byName = Object.fromEntries(runtime.functions().map((f) => [f.name, f]));
  expect(byName.StartSequence).toMatchObject({
    kind: 'http',
    trigger: { type: 'httpTrigger', route: 'clusters/{cluster}/switchover', methods: ['POST'], authLevel: 'function', direction: 'in' },
  });
  expect(byName.StartSequence?.extraInputs).toHaveLength(1);
  expect(byName.InstanceStatus?.trigger).toMatchObject({ authLevel: 'anonymous', methods: ['GET'] });
  expect(byName.HealthCheck).toMatchObject({ kind: 'timer', trigger: { type: 'timerTrigger', schedule: '*/30 * * * * *' } });
  expect(byName.HealthCheck?.extraInputs).toHaveLength(1);
  expect(byName.VmEvents?.kind).toBe('eventGrid');
  expect(byName.HelloSequence?.kind).toBe('orchestration');
  expect(byName.Greet?.kind).toBe('activity');
});

test('timers fire on demand; the timer handler gets the host TimerInfo and a durable client', async () => {
  await runtime.invokeTimer('HealthCheck');
  const echo = runtime.listInstances().find((s) => s.name === 'Echo');
  expect(echo).toBeDefined();
  const done = await runtime.waitForInstance(echo?.instanceId ?? '', WAIT);
  const timer = JSON.parse(done.output ?? 'null') as Record<string, unknown>;
  expect(timer).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
  expect(Object.keys(timer.scheduleStatus as object).sort()).toEqual(['last', 'lastUpdated', 'next']);
});

test('generic invocation (Event Grid) and the admin endpoint for non-HTTP functions', async () => {
  await expect(runtime.invokeFunction('VmEvents', { eventType: 'Microsoft.Resources.ResourceActionSuccess' })).resolves.toEqual({
    seen: 'Microsoft.Resources.ResourceActionSuccess',
  });
  expect((await post('/admin/functions/HealthCheck', {}, '{}')).status).toBe(401);
  expect((await post('/admin/functions/HealthCheck', { 'x-functions-key': 'master-key' }, '{}')).status).toBe(202);
  expect((await post('/admin/functions/Nope', { 'x-functions-key': 'master-key' }, '{}')).status).toBe(404);
});

test('waitForCompletionOrCreateCheckStatusResponse: output when done in time, check-status response otherwise', async () => {
  const request = new HttpRequest({ url: `${origin}/api/anything`, method: 'GET' });
  const done = await runtime.client.startNew('HelloSequence', { input: ['w'] });
  const completed = await runtime.client.waitForCompletionOrCreateCheckStatusResponse(request, done, {
    timeoutInMilliseconds: 30_000,
    retryIntervalInMilliseconds: 20,
  });
  expect(completed.status).toBe(200);
  expect(await completed.json()).toEqual(['Hello w']);
  const pending = await runtime.client.startNew('WaitForGo');
  const accepted = await runtime.client.waitForCompletionOrCreateCheckStatusResponse(request, pending, {
    timeoutInMilliseconds: 100,
    retryIntervalInMilliseconds: 20,
  });
  expect(accepted.status).toBe(202);
  expect(((await accepted.json()) as { id: string }).id).toBe(pending);
  await runtime.client.terminate(pending, 'test over');
});

test('raiseEvent and terminate on an unknown instance reject with the SDK messages', async () => {
  await expect(runtime.client.raiseEvent('ghost', 'Go', 1)).rejects.toThrow("No instance with ID 'ghost' found.");
  await expect(runtime.client.terminate('ghost', 'why')).rejects.toThrow("No instance with ID 'ghost' found.");
  await expect(runtime.client.rewind('ghost', 'why')).rejects.toThrow("No instance with ID 'ghost' found.");
  const failed = await runtime.client.startNew('ThrowAfterActivity');
  await runtime.waitForInstance(failed, WAIT);
  await expect(runtime.client.rewind(failed, 'why')).rejects.toThrow('The rewind operation is not supported by the local runtime.');
});
