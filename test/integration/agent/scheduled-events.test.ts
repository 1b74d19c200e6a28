import { LOCAL_NODE_AUTH_AUDIENCE, LocalStack } from '../../../harness/local/stack';
import { startScheduledEventsEmulator, ScheduledEventsEmulator, vmPrincipalId } from '../../../harness/local/azure-emulator';
import { OperationReport } from '../../../src/domain/operation';
import { api, Credential, startTestStack, TEST_FUNCTION_KEY, vmIdentity } from '../../support/stack';
import { waitForOperation } from '../../support/operations';
import { closedPortUrl, runScript, startScript, writeAgentConfig } from '../../unit/agent/support';
import { waitFor } from '../../../harness/util/wait';
import { labSelfSignedStepsCertificate } from '../../../harness/lab/node-agents';
import { randomBytes } from 'node:crypto';
import { check } from '../failover/support';

/**
 * The real agent script (bash) on "the VM", the emulated metadata service (Scheduled Events), and
 * the app running in the local runtime against the lab: a maintenance event for the primary
 * moves the primary away first and is approved only afterwards.
 */
describe('Scheduled Events: agent → app → switchover → approval', () => {
  let stack: LocalStack;
  let imds: ScheduledEventsEmulator;
  /** What the app's operations looked like at the moment each event was approved (StartRequests arrived). */
  const atApproval = new Map<string, { operations: Record<string, string> }>();

  beforeAll(async () => {
    stack = await startTestStack('50.1');
    imds = await startScheduledEventsEmulator({
      host: '127.50.1.1',
      vms: stack.cluster.nodes.map((n) => n.name),
      identity: { entra: stack.azure.entra, vmResourceId: (vm) => stack.cluster.nodes.find((n) => n.name === vm)!.vmResourceId },
      onEventStarted: (event, by) => {
        if (by !== 'approval') return;
        const operations = Object.fromEntries(stack.runtime.listInstances().filter((i) => i.name === 'switchover').map((i) => [i.instanceId, i.runtimeStatus]));
        atApproval.set(event.EventId, { operations });
      },
    });
  });

  // Each test's maintenance is over before the next begins: its events leave the document, and a
  // Reboot or Redeploy restarted the node's PostgreSQL, so the health check ends the node's hold
  // and it serves reads again (a Freeze's hold lasts its duration plus a margin: it stays).
  afterEach(async () => {
    const restarted = new Set<string>();
    for (const event of imds.document().Events) {
      if (event.EventStatus !== 'Started') imds.cancel(event.EventId);
      else {
        if (event.EventType === 'Reboot' || event.EventType === 'Redeploy') event.Resources.forEach((vm) => restarted.add(vm));
        imds.complete(event.EventId);
      }
    }
    for (const node of restarted) {
      await stack.lab.server(node).stop();
      await stack.lab.server(node).start();
    }
    if (restarted.size === 0) return;
    // A restarted primary answers at once, but its standbys reconnect only after their retry
    // interval: a switchover asked for before that is refused (no standby streams).
    await stack.lab.waitUntilHealthy();
    await waitFor(`${[...restarted].join(', ')} to serve reads again after the maintenance`, async () => {
      const state = await check(stack);
      const readPool = (await stack.lab.status()).ilb.readPool;
      return [...restarted].every((node) => !state.maintenanceHolds.some((h) => h.node === node) && (readPool.includes(node) || state.primary?.name === node));
    }, { timeoutMs: 60_000 });
  });

  afterAll(async () => {
    await imds?.stop();
    await stack?.stop();
  });

  const agentConfig = (node: string, appUrl = stack.origin!) =>
    writeAgentConfig({ PGFO_APP_URL: appUrl, PGFO_CLUSTER: stack.cluster.name, PGFO_NODE: node, PGFO_APP_RESOURCE: LOCAL_NODE_AUTH_AUDIENCE, PGFO_IMDS_URL: imds.baseUrl(node) }).file;
  const primaryNow = async () => (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
  const switchovers = () => stack.runtime.listInstances().filter((i) => i.name === 'switchover');
  const report = async (operationId: string) => (await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`)).body as unknown as OperationReport;

  it('Reboot of the primary: switchover first, approval only after it finished', async () => {
    const old = await primaryNow();
    const eventId = imds.schedule({ eventType: 'Reboot', resources: [old], notBefore: 15 * 60_000 });

    const run = await runScript('scheduled-events-agent.sh', ['--once', '--config', agentConfig(old)]);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'approved', operationId: expect.stringMatching(/^lab-switchover-event-/) })]);
    const operationId = run.results[0].operationId;
    const done = await report(operationId);
    expect(done).toMatchObject({ outcome: 'completed', oldPrimary: old, problems: [] });
    // The approval reached the metadata service only after the switchover had completed.
    expect(atApproval.get(eventId)?.operations[operationId]).toBe('Completed');
    expect(imds.record.startRequests).toEqual([{ eventIds: [eventId], vm: old }]);
    expect(imds.event(eventId)).toMatchObject({ EventStatus: 'Started' });
    // The old primary serves nothing while it reboots; the new one has the writes.
    const status = await stack.lab.status();
    expect(status.nodes.find((n) => n.role === 'primary')!.name).toBe(done.newPrimary);
    expect(status.ilb.writePool).toEqual([done.newPrimary]);
    expect(status.ilb.readPool).not.toContain(old);
    expect(switchovers().map((i) => i.instanceId)).toEqual([operationId]);
  });

  it('the same event delivered twice starts one switchover, and both deliveries get the approval', async () => {
    const old = await primaryNow();
    const eventId = imds.schedule({ eventType: 'Redeploy', resources: [old], notBefore: 10 * 60_000 });
    const before = switchovers().length;

    // Two deliveries of one event (e.g. an agent restarted on a fresh state directory): run side by side.
    const [a, b] = await Promise.all([
      runScript('scheduled-events-agent.sh', ['--once', '--config', agentConfig(old)]),
      runScript('scheduled-events-agent.sh', ['--once', '--config', agentConfig(old)]),
    ]);

    expect(switchovers()).toHaveLength(before + 1);
    const operationId = switchovers().at(-1)!.instanceId;
    for (const run of [a, b]) {
      expect(run.results).toEqual([expect.objectContaining({ eventId, operationId })]);
    }
    expect([a, b].map((r) => r.results[0].outcome)).toEqual(['approved', 'approved']);
    expect(await report(operationId)).toMatchObject({ outcome: 'completed', oldPrimary: old });
    // Forwarded again afterwards (same EventId): the same operation, the same verdict, nothing new started.
    const again = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/${old}/scheduled-events`, imds.event(eventId) ?? {}, vmIdentity(stack, old));
    expect(again).toMatchObject({ status: 200, body: { verdict: 'approve', operationId } });
    expect(switchovers()).toHaveLength(before + 1);
  });

  it('an event for a standby drains it from the read pool and is approved at once', async () => {
    const status = await stack.lab.status();
    const target = status.ilb.readPool[0];
    expect(target).toBeDefined();
    const before = switchovers().length;
    const eventId = imds.schedule({ eventType: 'Freeze', resources: [target], durationInSeconds: 9 });

    const run = await runScript('scheduled-events-agent.sh', ['--once', '--config', agentConfig(target)]);

    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'approved', detail: expect.stringContaining('taken out of') })]);
    expect(switchovers()).toHaveLength(before);
    expect((await stack.lab.status()).ilb.readPool).not.toContain(target);
    expect(imds.record.transitions).toContainEqual(expect.objectContaining({ eventId, to: 'Started', by: 'approval' }));
  });

  it('an app that cannot be reached never holds the event past NotBefore', async () => {
    const node = await primaryNow();
    const eventId = imds.schedule({ eventType: 'Reboot', resources: [node], notBefore: 3_000 });
    const before = switchovers().length;

    const agent = startScript('scheduled-events-agent.sh', ['--once', '--config', agentConfig(node, await closedPortUrl())]);
    const run = await agent.exited;

    expect(run.code).toBe(0); // it ended by itself
    expect(run.results).toEqual([expect.objectContaining({ eventId, outcome: 'released' })]);
    expect(imds.record.startRequests.filter((r) => r.eventIds.includes(eventId))).toEqual([]);
    await imds.waitFor(() => imds.record.transitions.some((t) => t.eventId === eventId && t.to === 'Started'), { timeoutMs: 30_000, what: 'the platform to start the event' });
    expect(imds.record.transitions.find((t) => t.eventId === eventId && t.to === 'Started')).toMatchObject({ by: 'not-before' });
    expect(switchovers()).toHaveLength(before);
  });

  it('joins a switchover another trigger started (single flight), then approves once the primary has moved', async () => {
    const old = await primaryNow();
    const standbyNode = (await stack.lab.status()).nodes.find((n) => n.role === 'standby')!.name;
    const before = switchovers().length;
    const event = {
      EventId: 'D4C3B2A1-1111-4222-8333-444455556666',
      EventType: 'Reboot',
      ResourceType: 'VirtualMachine',
      Resources: [old],
      EventStatus: 'Scheduled',
      NotBefore: new Date(Date.now() + 15 * 60_000).toUTCString(),
      Description: 'Virtual machine is going to be restarted as requested by authorized user.',
      EventSource: 'User',
      DurationInSeconds: -1,
    };
    // Keep the operator's switchover in progress (every Azure call waits) while the triggers ask.
    const release = stack.azure.control.holdOperations();
    let operatorId: string;
    try {
      const operator = await api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, {});
      expect(operator.status).toBe(202);
      operatorId = String(operator.body.operationId);
      const joined = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/${old}/scheduled-events`, event, vmIdentity(stack, old));
      expect(joined).toMatchObject({ status: 202, body: { verdict: 'in-progress', joined: true, kind: 'switchover', operationId: operatorId, retryAfter: 1 } });
      const shutdown = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/${standbyNode}/shutdown`, { requestId: 'test-shutdown-1' }, vmIdentity(stack, standbyNode));
      expect(shutdown).toMatchObject({ status: 202, body: { verdict: 'in-progress', joined: true, operationId: operatorId } });
    } finally {
      release();
    }
    expect(await waitForOperation(stack, operatorId)).toMatchObject({ outcome: 'completed', oldPrimary: old });

    const after = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/${old}/scheduled-events`, event, vmIdentity(stack, old));
    expect(after).toMatchObject({ status: 200, body: { verdict: 'approve', node: old } });
    expect(switchovers()).toHaveLength(before + 1); // the operator's only
  });

  describe('the endpoint', () => {
    const event = (node: string, edit: Record<string, unknown> = {}) => ({
      EventId: 'A1B2C3D4-0000-4000-8000-00000000BEEF',
      EventType: 'Reboot',
      ResourceType: 'VirtualMachine',
      Resources: [node],
      EventStatus: 'Scheduled',
      NotBefore: new Date(Date.now() + 15 * 60_000).toUTCString(),
      Description: 'Virtual machine is going to be restarted as requested by authorized user.',
      EventSource: 'User',
      DurationInSeconds: -1,
      ...edit,
    });
    const path = (node: string, cluster = stack.cluster.name) => `clusters/${cluster}/nodes/${node}/scheduled-events`;

    it('answers 400 with one entry per bad field, and for an event that does not name the node', async () => {
      const pg1 = vmIdentity(stack, 'pg1');
      const bad = await api(stack, 'POST', path('pg1'), event('pg1', { EventType: 'Reboooot', EventId: 'no spaces allowed', NotBefore: 'soon' }), pg1);
      expect(bad.status).toBe(400);
      expect((bad.body.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['EventId', 'EventType', 'NotBefore']);
      const missing = await api(stack, 'POST', path('pg1'), { EventType: 'Reboot' }, pg1);
      expect(missing.status).toBe(400);
      expect((missing.body.errors as { field: string }[]).map((e) => e.field)).toEqual(expect.arrayContaining(['EventId', 'Resources', 'EventStatus', 'NotBefore']));
      const other = await api(stack, 'POST', path('pg1'), event('pg2'), pg1);
      expect(other).toMatchObject({ status: 400, body: { errors: [{ field: 'Resources' }] } });
      expect((await api(stack, 'POST', path('pg1'), 'not json', pg1)).status).toBe(400);
    });

    it('answers 404 for an unknown cluster or node', async () => {
      const pg1 = vmIdentity(stack, 'pg1');
      expect((await api(stack, 'POST', path('pg1', 'nope'), event('pg1'), pg1)).status).toBe(404);
      expect((await api(stack, 'POST', path('pg9'), event('pg9'), pg1)).status).toBe(404);
      expect((await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg9/shutdown`, {}, pg1)).status).toBe(404);
      expect((await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg1/shutdown`, { requestId: 'x y' }, pg1)).status).toBe(400);
    });

    it('answers 409 to a step enrollment in a cluster that pins no agent certificates, and stores nothing', async () => {
      const stepKey = randomBytes(32).toString('base64');
      const certificate = labSelfSignedStepsCertificate(stack.lab.layout.nodes[0]);
      const answer = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg1/step-enrollment`, { certificate, stepKey }, vmIdentity(stack, 'pg1'));
      expect(answer).toMatchObject({ status: 409, body: { title: 'This cluster does not enroll node agents', detail: expect.stringMatching(/needs nodeAgent with certificateSecretPrefix/) } });
      expect(stack.azure.record.requests.filter((r) => r.method === 'PUT' && r.url.startsWith('/secrets/'))).toEqual([]);
    });

    // docs/design.md §8: only the node's own VM may call its routes, by its managed identity.
    it('takes only the node VM\'s own identity token: no token, a function key, another VM\'s, a forged or an expired one change nothing', async () => {
      const primary = await primaryNow();
      const other = stack.cluster.nodes.find((n) => n.name !== primary)!;
      const self = stack.cluster.nodes.find((n) => n.name === primary)!;
      const before = { switchovers: switchovers().length, pools: (await stack.lab.status()).ilb };
      const reboot = event(primary, { EventId: 'A1B2C3D4-0000-4000-8000-00000000AAAA' });
      const entra = stack.azure.entra;
      const refusals: [string, Credential, number, RegExp][] = [
        ['no credential', null, 401, /only the node's own VM may call this route/],
        ['the function key', TEST_FUNCTION_KEY, 401, /only the node's own VM may call this route/],
        ["another VM's token", vmIdentity(stack, other.name), 403, /not of VM .*: a VM may call only its own node's routes/],
        ['a token for another audience', vmIdentity(stack, primary, 'https://management.azure.com/'), 401, /another audience/],
        ['a token signed by an unpublished key', { bearer: entra.signClaims({ aud: LOCAL_NODE_AUTH_AUDIENCE, oid: vmPrincipalId(self.vmResourceId) }, { foreignKey: true }) }, 401, /signature/],
        ['an expired token', { bearer: entra.signClaims({ aud: LOCAL_NODE_AUTH_AUDIENCE, oid: vmPrincipalId(self.vmResourceId), iat: 1_700_000_000, nbf: 1_700_000_000, exp: 1_700_003_600 }) }, 401, /expired/],
        ['not a JWT', { bearer: 'not.a.token' }, 401, /not a signed JWT/],
      ];
      const enrollment = { certificate: 'not checked before the caller', stepKey: 'not checked either' };
      const bodyOf = (route: string) => (route.endsWith('shutdown') ? { requestId: 'refused-1' } : route.endsWith('step-enrollment') ? enrollment : reboot);
      for (const [what, credential, status, detail] of refusals) {
        for (const route of [path(primary), `clusters/${stack.cluster.name}/nodes/${primary}/shutdown`, `clusters/${stack.cluster.name}/nodes/${primary}/step-enrollment`]) {
          const answer = await api(stack, 'POST', route, bodyOf(route), credential);
          expect({ what, status: answer.status, detail: answer.body.detail }).toEqual({ what, status, detail: expect.stringMatching(detail) });
          if (status === 401) expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /);
        }
      }
      expect(switchovers()).toHaveLength(before.switchovers);
      expect((await stack.lab.status()).ilb).toEqual(before.pools);
      expect(await primaryNow()).toBe(primary);
    });
  });
});
