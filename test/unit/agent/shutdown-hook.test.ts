import { startScheduledEventsEmulator, ScheduledEventsEmulator } from '../../../harness/local/azure-emulator/scheduled-events';
import { APP_RESOURCE, AppAnswer, AppRequest, closedPortUrl, runScript, startFakeApp, writeAgentConfig } from './support';

/** The real shutdown hook against the emulated metadata service (its token) and a stand-in for the app (the real app: test/integration/agent). */
describe('shutdown-hook.sh', () => {
  let imds: ScheduledEventsEmulator;
  const apps: { stop(): Promise<void> }[] = [];
  beforeEach(async () => {
    imds = await startScheduledEventsEmulator({ vms: ['pg1', 'pg2'] });
  });
  afterEach(async () => {
    await imds.stop();
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });
  /** The app stand-in takes only pg1's token for APP_RESOURCE. */
  async function fakeApp(answer: (request: AppRequest, index: number) => AppAnswer) {
    const app = await startFakeApp(answer, { imds, vm: 'pg1', resource: APP_RESOURCE });
    apps.push(app);
    return app;
  }
  const config = (appUrl: string, extra: Record<string, string> = {}) =>
    writeAgentConfig({ PGFO_APP_URL: appUrl, PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_APP_RESOURCE: APP_RESOURCE, PGFO_IMDS_URL: imds.baseUrl('pg1'), ...extra }).file;
  const approve = () => ({ status: 200, body: { verdict: 'approve' } });

  it('asks the app to move the primary away and waits through 202s for the verdict, with its VM\'s token', async () => {
    const app = await fakeApp((_r, index) =>
      index < 2
        ? { status: 202, body: { verdict: 'in-progress', operationId: 'orders-switchover-shutdown-1', retryAfter: 1 } }
        : { status: 200, body: { verdict: 'approve', node: 'pg1', operationId: 'orders-switchover-shutdown-1', detail: 'pg1 is no longer the primary' } },
    );

    const run = await runScript('shutdown-hook.sh', ['--force', '--config', config(app.url)]);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ agent: 'shutdown-hook', outcome: 'approved', operationId: 'orders-switchover-shutdown-1', node: 'pg1' })]);
    expect(app.requests).toHaveLength(3);
    const bodies = app.requests.map((r) => JSON.parse(r.body));
    expect(bodies[0]).toEqual({ requestId: expect.stringMatching(/^[A-Za-z0-9._:-]+$/), reason: 'shutdown hook run by hand (--force)' });
    expect(new Set(bodies.map((b) => b.requestId)).size).toBe(1); // one request id for the whole run: the app joins one switchover
    for (const request of app.requests) {
      expect(request).toMatchObject({ path: '/api/clusters/orders/nodes/pg1/shutdown', authenticated: true, caller: { vm: 'pg1', resource: APP_RESOURCE } });
      expect(request.headers['x-functions-key']).toBeUndefined();
    }
    expect(imds.record.tokens).toEqual([expect.objectContaining({ vm: 'pg1', resource: APP_RESOURCE })]); // one token, reused
    expect(run.stdout + run.stderr).not.toContain(imds.record.tokens[0].accessToken);
  });

  it('reports "wait" when the app could not move the primary, and exits 0', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'wait', reason: 'switchover aborted' } }));
    const run = await runScript('shutdown-hook.sh', ['--force', '--config', config(app.url)]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'wait', detail: 'switchover aborted' })]);
  });

  it('gives up after its bound when the app cannot be reached, and still exits 0', async () => {
    const run = await runScript('shutdown-hook.sh', ['--force', '--timeout', '2', '--config', config(await closedPortUrl())]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'timeout', detail: expect.stringContaining('cannot be reached') })]);
  });

  it('gives up after its bound without a token from the metadata service, sending nothing, and still exits 0', async () => {
    const app = await fakeApp(approve);
    // The bare listener is no VM: its token requests answer 400 "Identity not found".
    const run = await runScript('shutdown-hook.sh', ['--force', '--timeout', '2', '--config', config(app.url, { PGFO_IMDS_URL: imds.baseUrl() })]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'timeout', detail: expect.stringContaining('no managed identity token') })]);
    expect(imds.record.requests).toContainEqual(expect.objectContaining({ path: '/metadata/identity/oauth2/token', status: 400 }));
    expect(app.requests).toEqual([]);
  });

  it('reports "refused" when the app does not take the token (another VM\'s), and exits 0', async () => {
    const app = await fakeApp(approve);
    const run = await runScript('shutdown-hook.sh', ['--force', '--config', config(app.url, { PGFO_IMDS_URL: imds.baseUrl('pg2') })]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'refused', detail: expect.stringContaining('HTTP 401') })]);
    expect(app.requests).toEqual([expect.objectContaining({ authenticated: false, caller: { vm: 'pg2', resource: APP_RESOURCE } })]);
  });

  it('does nothing when its unit is stopped outside a system shutdown', async () => {
    const app = await fakeApp(approve);
    const run = await runScript('shutdown-hook.sh', ['--config', config(app.url)]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'not-shutdown' })]);
    expect(app.requests).toEqual([]);
    expect(imds.record.tokens).toEqual([]);
  });

  it('exits 0 with an error outcome when its configuration is unusable', async () => {
    const run = await runScript('shutdown-hook.sh', ['--force', '--config', config('not a url')]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'error' })]);
    expect(run.stderr).toMatch(/PGFO_APP_URL/);
  });

  it('exits 0 with an error outcome, asking nothing, when the configuration still has the function key or lacks PGFO_APP_RESOURCE', async () => {
    const app = await fakeApp(approve);
    const key = 'old-function-key_0123456789abcdef==';
    const old = await runScript('shutdown-hook.sh', ['--force', '--config', config(app.url, { PGFO_FUNCTION_KEY: key })]);
    const noResource = await runScript('shutdown-hook.sh', ['--force', '--config', writeAgentConfig({ PGFO_APP_URL: app.url, PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_IMDS_URL: imds.baseUrl('pg1') }).file]);

    for (const run of [old, noResource]) {
      expect(run.code).toBe(0);
      expect(run.results).toEqual([expect.objectContaining({ outcome: 'error' })]);
    }
    expect(old.stderr).toMatch(/PGFO_FUNCTION_KEY is no longer used: the app's node routes accept only this VM's managed identity token/);
    expect(old.stderr + old.stdout).not.toContain(key);
    expect(noResource.stderr).toMatch(/PGFO_APP_RESOURCE must be the audience the app accepts/);
    expect(app.requests).toEqual([]);
    expect(imds.record.requests).toEqual([]);
  });
});
