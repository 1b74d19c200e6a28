import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startScheduledEventsEmulator, ScheduledEventsEmulator } from '../../../harness/local/azure-emulator/scheduled-events';
import { AGENT_DIR, APP_RESOURCE, AppAnswer, AppRequest, closedPortUrl, processTree, runScript, startFakeApp, startScript, writeAgentConfig } from './support';

/**
 * The real agent script (bash + curl + awk) against the emulated metadata service and a stand-in
 * for the app that answers what each test scripts. The whole stack (real app, real switchover)
 * is in test/integration/agent.
 */
describe('scheduled-events-agent.sh', () => {
  let imds: ScheduledEventsEmulator;
  const apps: { stop(): Promise<void> }[] = [];

  beforeEach(async () => {
    imds = await startScheduledEventsEmulator({ vms: ['pg1', 'pg2'] });
  });
  afterEach(async () => {
    await imds.stop();
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });

  /** The app stand-in takes only pg1's token for APP_RESOURCE, as the app's node routes take only the node VM's own. */
  async function fakeApp(answer: (request: AppRequest, index: number) => AppAnswer | Promise<AppAnswer>) {
    const app = await startFakeApp(answer, { imds, vm: 'pg1', resource: APP_RESOURCE });
    apps.push(app);
    return app;
  }

  function config(appUrl: string, extra: Record<string, string> = {}) {
    return writeAgentConfig({
      PGFO_APP_URL: appUrl,
      PGFO_CLUSTER: 'orders',
      PGFO_NODE: 'pg1',
      PGFO_APP_RESOURCE: APP_RESOURCE,
      PGFO_IMDS_URL: imds.baseUrl('pg1'),
      ...extra,
    });
  }
  const once = (file: string) => runScript('scheduled-events-agent.sh', ['--once', '--config', file]);
  const approvalsOf = (eventId: string) => imds.record.startRequests.filter((r) => r.eventIds.includes(eventId));
  const inProgress = { status: 202, body: { verdict: 'in-progress', operationId: 'orders-switchover-event-1', retryAfter: 1, detail: 'switching over' } };

  it('forwards an event for its VM, polls while the app answers 202, approves once the app says approve', async () => {
    const app = await fakeApp((_request, index) => (index < 2 ? inProgress : { status: 200, body: { verdict: 'approve', node: 'pg1', detail: 'pg1 is a standby now' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 15 * 60_000 });
    const { file } = config(app.url);

    const run = await once(file);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ agent: 'scheduled-events', eventId, eventType: 'Reboot', outcome: 'approved', operationId: 'orders-switchover-event-1' })]);
    expect(app.requests).toHaveLength(3);
    for (const request of app.requests) {
      expect(request).toMatchObject({ method: 'POST', path: '/api/clusters/orders/nodes/pg1/scheduled-events' });
      // This VM's managed identity token for the app's audience, and no other credential.
      expect(request).toMatchObject({ authenticated: true, caller: { vm: 'pg1', resource: APP_RESOURCE } });
      expect(request.headers['x-functions-key']).toBeUndefined();
      expect(request.body).toBe(app.requests[0].body); // asking again = the same event again
    }
    // One token for the run: asked once, reused while it is valid.
    expect(imds.record.tokens).toEqual([expect.objectContaining({ vm: 'pg1', resource: APP_RESOURCE })]);
    // The event exactly as the metadata service listed it.
    expect(JSON.parse(app.requests[0].body)).toEqual({
      EventId: eventId,
      EventType: 'Reboot',
      ResourceType: 'VirtualMachine',
      Resources: ['pg1'],
      EventStatus: 'Scheduled',
      NotBefore: expect.stringMatching(/GMT$/),
      Description: expect.any(String),
      EventSource: 'Platform',
      DurationInSeconds: -1,
    });
    expect(approvalsOf(eventId)).toEqual([{ eventIds: [eventId], vm: 'pg1' }]);
    expect(imds.record.transitions).toContainEqual(expect.objectContaining({ eventId, to: 'Started', by: 'approval' }));
    expect(imds.event(eventId)).toMatchObject({ EventStatus: 'Started', NotBefore: '' });
  });

  it('an event another delivery got approved meanwhile counts as approved once the app says approve; one the platform started does not', async () => {
    const approveAfterStart = { status: 200, body: { verdict: 'approve', node: 'pg1', detail: 'pg1 is a standby now' } };
    const app = await fakeApp((_request, index) => (index === 0 ? inProgress : approveAfterStart));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 15 * 60_000 });
    const agent = startScript('scheduled-events-agent.sh', ['--once', '--config', config(app.url).file]);
    await app.waitForRequests(1);
    // The other delivery (the same event forwarded twice) was answered first and approved it.
    const other = await fetch(`${imds.baseUrl('pg1')}/metadata/scheduledevents?api-version=2020-07-01`, { method: 'POST', headers: { Metadata: 'true' }, body: JSON.stringify({ StartRequests: [{ EventId: eventId }] }) });
    expect(other.status).toBe(200);

    const run = await agent.exited;
    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'approved', detail: 'pg1 is a standby now; another delivery of this event had already started it', operationId: 'orders-switchover-event-1' })]);
    expect(approvalsOf(eventId)).toHaveLength(1);

    // Started by the platform at NotBefore while the app still works on it: not approved.
    imds.complete(eventId);
    const app2 = await fakeApp(() => inProgress);
    const late = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 2_000 });
    const run2 = await once(config(app2.url).file);
    expect(run2.results).toEqual([expect.objectContaining({ eventId: late, outcome: 'released' })]);
    expect(approvalsOf(late)).toEqual([]);
  });

  it('handles each EventId once, however often it is listed; events for other VMs are not forwarded', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const other = imds.schedule({ eventType: 'Redeploy', resources: ['pg2'] });
    const { file } = config(app.url);

    const first = await once(file);
    expect(first.results).toEqual([expect.objectContaining({ eventId: other, outcome: 'not-ours' })]);
    const mine = imds.schedule({ eventType: 'Freeze', resources: ['pg1', 'pg2'], durationInSeconds: 9 });
    const second = await once(file);
    const third = await once(file);

    expect(second.results).toEqual([expect.objectContaining({ eventId: mine, eventType: 'Freeze', outcome: 'approved' })]);
    expect(third.results).toEqual([]);
    expect(app.requests.map((r) => JSON.parse(r.body).EventId)).toEqual([mine]);
    expect(approvalsOf(other)).toEqual([]);
    expect(approvalsOf(mine)).toHaveLength(1);
  });

  it('does not approve when the app says wait: the event runs at its NotBefore', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'wait', reason: 'switchover refused: no standby streams from pg1' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 2_000 });
    const { file } = config(app.url);

    const run = await once(file);

    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'released', detail: expect.stringContaining('no standby streams from pg1') })]);
    expect(app.requests).toHaveLength(1);
    expect(approvalsOf(eventId)).toEqual([]);
    await imds.waitFor(() => imds.event(eventId)?.EventStatus === 'Started', { timeoutMs: 30_000, what: 'the platform to start the event at NotBefore' });
    expect(imds.record.transitions).toContainEqual(expect.objectContaining({ eventId, to: 'Started', by: 'not-before' }));
  });

  it('never holds an event past NotBefore when the app cannot be reached', async () => {
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 3_000 });
    const { file } = config(await closedPortUrl());

    const run = await once(file);

    // The agent gave up by itself (no kill), without approving; the platform started the event at NotBefore.
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'released', detail: expect.stringMatching(/cannot be reached/) })]);
    expect(run.stderr).toMatch(/the app cannot be reached/);
    expect(approvalsOf(eventId)).toEqual([]);
    await imds.waitFor(() => imds.record.transitions.some((t) => t.eventId === eventId && t.to === 'Started'), { timeoutMs: 30_000, what: 'the event to start' });
    expect(imds.record.transitions.find((t) => t.eventId === eventId && t.to === 'Started')).toMatchObject({ by: 'not-before' });
  });

  it('Preempt (30 s notice): forwards it and approves at once, without waiting for a switchover', async () => {
    const app = await fakeApp(() => inProgress);
    const eventId = imds.schedule({ eventType: 'Preempt', resources: ['pg1'] });
    const { file } = config(app.url);

    const run = await once(file);

    expect(run.results).toEqual([expect.objectContaining({ eventId, eventType: 'Preempt', outcome: 'approved' })]);
    expect(app.requests).toHaveLength(1);
    expect(approvalsOf(eventId)).toHaveLength(1);
  });

  it('follows DocumentIncarnation changes while it waits: a moved NotBefore, a cancelled event', async () => {
    const app = await fakeApp(() => inProgress);
    const moved = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 60 * 60_000 });
    const { file } = config(app.url);
    const agent = startScript('scheduled-events-agent.sh', ['--once', '--config', file]);
    await app.waitForRequests(1);
    const incarnation = imds.document().DocumentIncarnation;
    imds.reschedule(moved, 2_000); // Azure brings the maintenance forward

    const run = await agent.exited;

    expect(imds.document().DocumentIncarnation).toBeGreaterThan(incarnation);
    expect(run.results).toEqual([expect.objectContaining({ eventId: moved, outcome: 'released' })]);
    expect(approvalsOf(moved)).toEqual([]);

    const cancelled = imds.schedule({ eventType: 'Redeploy', resources: ['pg1'], notBefore: 60 * 60_000 });
    const asked = app.requests.length;
    const second = startScript('scheduled-events-agent.sh', ['--once', '--config', file]);
    await app.waitForRequests(asked + 1);
    imds.cancel(cancelled);
    const secondRun = await second.exited;
    expect(secondRun.results).toEqual([expect.objectContaining({ eventId: cancelled, outcome: 'released', detail: expect.stringContaining('left the document') })]);
  });

  it('does not forward an event that has already started, nor one the app refuses twice', async () => {
    const app = await fakeApp(() => ({ status: 400, body: { title: 'Invalid request body', detail: 'EventType: EventType must be one of ...' } }));
    const started = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = config(app.url);
    // Approved by someone else before our agent saw it.
    await fetch(`${imds.baseUrl('pg2')}/metadata/scheduledevents?api-version=2020-07-01`, { method: 'POST', headers: { Metadata: 'true' }, body: JSON.stringify({ StartRequests: [{ EventId: started }] }) });
    const refused = imds.schedule({ eventType: 'Terminate', resources: ['pg1'] });

    const run = await once(file);
    const again = await once(file);

    expect(run.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ eventId: started, outcome: 'too-late' }),
        expect.objectContaining({ eventId: refused, outcome: 'released', detail: expect.stringContaining('HTTP 400') }),
      ]),
    );
    expect(again.results).toEqual([]);
    expect(app.requests.map((r) => JSON.parse(r.body).EventId)).toEqual([refused]);
  });

  it('keeps the identity token off every command line, out of every environment and out of its output', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const app = await fakeApp(async () => {
      await held;
      return { status: 200, body: { verdict: 'approve' } };
    });
    imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = config(app.url);
    const agent = startScript('scheduled-events-agent.sh', ['--once', '--config', file]);
    await app.waitForRequests(1);

    // curl is running now, waiting for the app's answer: look at every process's arguments, and at
    // the environment of the agent and all its children.
    const commandLines = execFileSync('ps', ['-eo', 'args', '--no-headers'], { encoding: 'utf8' });
    const tree = processTree(agent.pid);
    release();
    const run = await agent.exited;

    const token = imds.record.tokens[0].accessToken;
    expect(imds.record.tokens).toHaveLength(1);
    expect(tree.map((p) => p.args)).toContainEqual(expect.stringMatching(/^curl /));
    expect(commandLines).not.toContain(token);
    for (const process of tree) expect({ pid: process.pid, args: process.args, environ: process.environ.includes(token) }).toEqual({ pid: process.pid, args: expect.not.stringContaining(token), environ: false });
    expect(run.stderr).not.toContain(token);
    expect(run.stdout).not.toContain(token);
    expect(app.requests[0].headers.authorization).toBe(`Bearer ${token}`);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'approved' })]);
  });

  it('loop mode (the systemd service): keeps polling and handles events announced after it started', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const { file } = config(app.url, { PGFO_POLL_SECONDS: '1' });
    const agent = startScript('scheduled-events-agent.sh', ['--config', file]);
    try {
      await imds.waitFor(() => imds.record.requests.filter((r) => r.path === '/metadata/scheduledevents').length >= 2, { timeoutMs: 30_000, what: 'two polls' });
      const first = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
      await imds.waitFor(() => approvalsOf(first).length === 1, { timeoutMs: 30_000, what: 'the first approval' });
      const second = imds.schedule({ eventType: 'Redeploy', resources: ['pg1'] });
      await imds.waitFor(() => approvalsOf(second).length === 1, { timeoutMs: 30_000, what: 'the second approval' });
      const polls = imds.record.requests.length;
      await imds.waitFor(() => imds.record.requests.length >= polls + 2, { timeoutMs: 30_000, what: 'more polls' });
      expect(app.requests.map((r) => JSON.parse(r.body).EventId)).toEqual([first, second]);
    } finally {
      agent.kill();
    }
    const run = await agent.exited;
    expect(run.results.map((r) => r.outcome)).toEqual(['approved', 'approved']);
    expect(imds.record.tokens).toHaveLength(1); // one token for both events: asked again only near its expiry
  });

  it.each([
    ['PGFO_FUNCTION_KEY', 'old-function-key_0123456789abcdef=='],
    ['PGFO_AUTH', 'managed-identity'],
    ['PGFO_MI_CLIENT_ID', '6a4f1c52-8a43-4c8e-9d8c-0b8a2f3c1d7e'],
  ])('refuses a configuration that still has %s (an older install), and asks nothing of anyone', async (name, value) => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = config(app.url, { [name]: value });

    const run = await once(file);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`line \\d+: ${name} is no longer used: the app's node routes accept only this VM's managed identity token \\(PGFO_APP_RESOURCE\\)`));
    expect(run.stderr).toMatch(/install\.sh --app-resource/);
    expect(run.stderr).not.toContain(value);
    expect(run.results).toEqual([]);
    expect(app.requests).toEqual([]);
    expect(imds.record.requests).toEqual([]);
    expect(imds.event(eventId)).toMatchObject({ EventStatus: 'Scheduled' });
  });

  it('refuses a configuration without PGFO_APP_RESOURCE, naming it', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = writeAgentConfig({ PGFO_APP_URL: app.url, PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_IMDS_URL: imds.baseUrl('pg1') });

    const run = await once(file);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PGFO_APP_RESOURCE must be the audience the app accepts on its node routes \(its NODE_AUTH_AUDIENCE/);
    expect(app.requests).toEqual([]);
    expect(imds.record.requests).toEqual([]);
  });

  it('takes a configuration file readable by others: it holds no secret', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = writeAgentConfig({ PGFO_APP_URL: app.url, PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_APP_RESOURCE: APP_RESOURCE, PGFO_IMDS_URL: imds.baseUrl('pg1') }, 0o644);
    const run = await once(file);
    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'approved' })]);
  });

  it('refuses an app URL over plain http unless it is this machine (the token travels with every request)', async () => {
    const run = await once(writeAgentConfig({ PGFO_APP_URL: 'http://pg-failover.azurewebsites.net', PGFO_CLUSTER: 'orders', PGFO_NODE: 'pg1', PGFO_APP_RESOURCE: APP_RESOURCE }).file);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PGFO_APP_URL must use https:\/\/ .*http:\/\/ is accepted only for a loopback address/);
    expect(imds.record.requests).toEqual([]);
  });

  it('the VM name comes from the metadata service, the token is this VM\'s whatever the node is called', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = writeAgentConfig({
      PGFO_APP_URL: app.url,
      PGFO_CLUSTER: 'orders',
      PGFO_NODE: 'node-one', // node name differs from the VM name: Resources are matched by VM name
      PGFO_APP_RESOURCE: APP_RESOURCE,
      PGFO_IMDS_URL: imds.baseUrl('pg1'),
    });

    const run = await once(file);

    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'approved' })]);
    expect(imds.record.requests).toContainEqual(expect.objectContaining({ path: '/metadata/instance/compute/name', status: 200, vm: 'pg1' }));
    expect(imds.record.tokens).toEqual([expect.objectContaining({ vm: 'pg1', resource: APP_RESOURCE })]);
    expect(app.requests[0].headers.authorization).toBe(`Bearer ${imds.record.tokens[0].accessToken}`);
    expect(app.requests[0].path).toBe('/api/clusters/orders/nodes/node-one/scheduled-events');
  });

  it('a token the app does not take (another audience) is refused with 401: the event is released, not approved', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const { file } = config(app.url, { PGFO_APP_RESOURCE: 'api://another-app' });

    const run = await once(file);

    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'released', detail: expect.stringContaining('HTTP 401') })]);
    expect(app.requests).toEqual([expect.objectContaining({ authenticated: false, caller: { vm: 'pg1', resource: 'api://another-app' } })]);
    expect(approvalsOf(eventId)).toEqual([]);
  });

  it('without a token from the metadata service (no identity on the VM) it sends nothing and never approves', async () => {
    const app = await fakeApp(() => ({ status: 200, body: { verdict: 'approve' } }));
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'], notBefore: 3_000 });
    // The bare listener serves Scheduled Events but is no VM: its token requests answer 400 "Identity not found".
    const { file } = config(app.url, { PGFO_IMDS_URL: imds.baseUrl(), PGFO_VM_NAME: 'pg1' });

    const run = await once(file);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'released', detail: expect.stringContaining('no managed identity token') })]);
    expect(run.stderr).toMatch(/no managed identity token from the metadata service \(HTTP 400\)/);
    expect(imds.record.requests).toContainEqual(expect.objectContaining({ path: '/metadata/identity/oauth2/token', status: 400 }));
    expect(imds.record.tokens).toEqual([]);
    expect(app.requests).toEqual([]);
    expect(approvalsOf(eventId)).toEqual([]);
  });
});

describe('agent JSON reader (lib.sh, awk)', () => {
  const flatten = (json: string) =>
    execFileSync('bash', ['-c', `source ${JSON.stringify(join(AGENT_DIR, 'lib.sh'))}; json_flatten`], { input: json, encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));

  it('keeps every value\'s raw JSON text, so an event is forwarded exactly as listed', () => {
    const doc = {
      DocumentIncarnation: 7,
      Events: [{ EventId: 'A-1', Resources: ['pg1', 'pg2'], Description: 'a "quoted" {brace} [x], \\ back/slash é\ttab', DurationInSeconds: -1, Extra: { nested: [true, null, 1500] } }],
    };
    const text = JSON.stringify(doc, null, 2).replace('1500', '1.5e3');
    const rows = new Map(flatten(text).map(([path, raw]) => [path, raw]));
    expect(rows.get('DocumentIncarnation')).toBe('7');
    expect(rows.get('Events.0.Resources.1')).toBe('"pg2"');
    expect(JSON.parse(rows.get('Events.0')!)).toEqual(doc.Events[0]);
    expect(JSON.parse(rows.get('')!)).toEqual(doc);
    expect(rows.get('Events.0.Extra.nested.2')).toBe('1.5e3');
  });

  it('reports a malformed document instead of guessing', () => {
    expect(() => flatten('{"a": "unterminated}')).toThrow();
    expect(() => flatten('{"a": 1} trailing')).toThrow();
  });

  it('works with the awk the VM has (mawk here)', () => {
    const awk = execFileSync('bash', ['-c', 'readlink -f "$(command -v awk)"'], { encoding: 'utf8' }).trim();
    expect(awk).toMatch(/awk$/);
    expect(flatten('{"x":[1]}')).toEqual([['x.0', '1'], ['x', '[1]'], ['', '{"x":[1]}']]);
  });
});
