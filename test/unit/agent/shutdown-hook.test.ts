import { AGENT_KEY, AppAnswer, AppRequest, closedPortUrl, runScript, startFakeApp, writeAgentConfig } from './support';

/** The real shutdown hook against a stand-in for the app (the real app: test/integration/agent). */
describe('shutdown-hook.sh', () => {
  const apps: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });
  async function fakeApp(answer: (request: AppRequest, index: number) => AppAnswer) {
    const app = await startFakeApp(answer);
    apps.push(app);
    return app;
  }
  const config = (appUrl: string, extra: Record<string, string> = {}) =>
    writeAgentConfig({ PGFO_APP_URL: appUrl, PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_FUNCTION_KEY: AGENT_KEY, ...extra }).file;

  it('asks the app to move the primary away and waits through 202s for the verdict', async () => {
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
    expect(app.requests.every((r) => r.path === '/api/clusters/orders/nodes/pg1/shutdown' && r.headers['x-functions-key'] === AGENT_KEY)).toBe(true);
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

  it('does nothing when its unit is stopped outside a system shutdown', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const run = await runScript('shutdown-hook.sh', ['--config', config(app.url)]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'not-shutdown' })]);
    expect(app.requests).toEqual([]);
  });

  it('exits 0 with an error outcome when its configuration is unusable', async () => {
    const run = await runScript('shutdown-hook.sh', ['--force', '--config', writeAgentConfig({ PGFO_APP_URL: 'not a url', PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_FUNCTION_KEY: AGENT_KEY }).file]);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'error' })]);
    expect(run.stderr).toMatch(/PGFO_APP_URL/);
  });
});
