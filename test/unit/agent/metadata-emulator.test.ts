import { createPublicKey, verify } from 'node:crypto';
import { createEntraIssuer, vmPrincipalId } from '../../../harness/local/azure-emulator/entra';
import { startScheduledEventsEmulator, ScheduledEventsEmulator } from '../../../harness/local/azure-emulator/scheduled-events';
import { APP_RESOURCE, jwtClaims } from './support';

/** The emulated metadata service keeps IMDS's rules, so the agent is tested against them. */
describe('emulated metadata service (Scheduled Events)', () => {
  let imds: ScheduledEventsEmulator;
  beforeEach(async () => {
    imds = await startScheduledEventsEmulator({ vms: ['pg1', 'pg2'] });
  });
  afterEach(async () => {
    await imds.stop();
  });

  const events = (vm = 'pg1', init: RequestInit = {}, query = 'api-version=2020-07-01') =>
    fetch(`${imds.baseUrl(vm)}/metadata/scheduledevents?${query}`, { ...init, headers: { Metadata: 'true', ...(init.headers as Record<string, string> | undefined) } });

  it('refuses requests without "Metadata: true", without a known api-version, or through a proxy', async () => {
    expect((await fetch(`${imds.baseUrl('pg1')}/metadata/scheduledevents?api-version=2020-07-01`)).status).toBe(400);
    const noVersion = await events('pg1', {}, '');
    expect(noVersion.status).toBe(400);
    expect(await noVersion.json()).toMatchObject({ error: expect.stringContaining('api-version'), 'newest-versions': expect.arrayContaining(['2020-07-01']) });
    expect((await events('pg1', {}, 'api-version=2015-01-01')).status).toBe(400);
    expect((await events('pg1', { headers: { 'X-Forwarded-For': '10.0.0.1' } })).status).toBe(400);
  });

  it('serves the document with a DocumentIncarnation that changes with every change', async () => {
    const empty = await (await events()).json();
    expect(empty).toEqual({ DocumentIncarnation: 1, Events: [] });
    const eventId = imds.schedule({ eventType: 'Redeploy', resources: ['pg1'] });
    const doc = (await (await events()).json()) as { DocumentIncarnation: number; Events: { NotBefore: string }[] };
    expect(doc.DocumentIncarnation).toBe(2);
    expect(doc.Events).toEqual([
      {
        EventId: eventId,
        EventType: 'Redeploy',
        ResourceType: 'VirtualMachine',
        Resources: ['pg1'],
        EventStatus: 'Scheduled',
        NotBefore: expect.stringMatching(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/),
        Description: expect.any(String),
        EventSource: 'Platform',
        DurationInSeconds: -1,
      },
    ]);
    // Redeploy: at least 10 minutes' notice.
    expect(Date.parse(doc.Events[0].NotBefore) - Date.now()).toBeGreaterThan(9 * 60_000);
  });

  it('starts an approved event at once (NotBefore empties), then drops it when the maintenance is over', async () => {
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg1'] });
    const approve = await events('pg1', { method: 'POST', body: JSON.stringify({ StartRequests: [{ EventId: eventId }] }) });
    expect(approve.status).toBe(200);
    const started = (await (await events()).json()) as { DocumentIncarnation: number; Events: unknown[] };
    expect(started.Events[0]).toMatchObject({ EventId: eventId, EventStatus: 'Started', NotBefore: '' });
    imds.complete(eventId);
    const after = await (await events()).json();
    expect(after).toEqual({ DocumentIncarnation: started.DocumentIncarnation + 1, Events: [] });
    expect(imds.record.transitions.map((t) => [t.to, t.by])).toEqual([
      ['Scheduled', 'schedule'],
      ['Started', 'approval'],
      ['Completed', 'control'],
    ]);
    // A malformed approval is refused; an unknown EventId changes nothing.
    expect((await events('pg1', { method: 'POST', body: '{"StartRequests":[{}]}' })).status).toBe(400);
    expect((await events('pg1', { method: 'POST', body: JSON.stringify({ StartRequests: [{ EventId: 'UNKNOWN-1' }] }) })).status).toBe(200);
  });

  it('starts an event by itself when NotBefore passes', async () => {
    const eventId = imds.schedule({ eventType: 'Reboot', resources: ['pg2'], notBefore: 500 });
    await imds.waitFor(() => imds.event(eventId)?.EventStatus === 'Started', { timeoutMs: 10_000 });
    expect(imds.record.transitions.at(-1)).toMatchObject({ eventId, to: 'Started', by: 'not-before' });
  });

  const tokenOf = (vm: string | undefined, resource = APP_RESOURCE, extra = '') =>
    fetch(`${imds.baseUrl(vm)}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}${extra}`, { headers: { Metadata: 'true' } });

  it('answers a VM its own name and managed identity tokens', async () => {
    const name = await fetch(`${imds.baseUrl('pg2')}/metadata/instance/compute/name?api-version=2021-02-01&format=text`, { headers: { Metadata: 'true' } });
    expect(await name.text()).toBe('pg2');
    const token = await tokenOf('pg2', 'api://app');
    expect(await token.json()).toMatchObject({ token_type: 'Bearer', resource: 'api://app', access_token: imds.record.tokens[0].accessToken, expires_on: expect.stringMatching(/^\d+$/) });
    expect(imds.record.tokens).toEqual([expect.objectContaining({ vm: 'pg2', resource: 'api://app' })]);
    expect((await fetch(`${imds.baseUrl('pg9')}/metadata/scheduledevents?api-version=2020-07-01`, { headers: { Metadata: 'true' } })).status).toBe(404);
  });

  it('a token is a JWT of the VM\'s own identity: aud the resource asked for, a stable oid per VM, xms_mirid its resource id', async () => {
    const claimsOf = async (vm: string, resource = APP_RESOURCE) => {
      const answer = await tokenOf(vm, resource);
      expect(answer.status).toBe(200);
      return jwtClaims(((await answer.json()) as { access_token: string }).access_token);
    };
    const pg1 = await claimsOf('pg1');
    const pg1Again = await claimsOf('pg1', 'api://another-app');
    const pg2 = await claimsOf('pg2');

    expect(pg1).toMatchObject({ aud: APP_RESOURCE, idtyp: 'app', xms_mirid: expect.stringMatching(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/virtualMachines\/pg1$/) });
    expect(pg1.oid).toBe(vmPrincipalId(pg1.xms_mirid as string));
    expect(pg1.sub).toBe(pg1.oid);
    expect(pg1Again).toMatchObject({ aud: 'api://another-app', oid: pg1.oid, xms_mirid: pg1.xms_mirid });
    expect(pg2).toMatchObject({ aud: APP_RESOURCE, xms_mirid: expect.stringMatching(/\/virtualMachines\/pg2$/) });
    expect(pg2.oid).not.toBe(pg1.oid);
    expect(Number(pg1.exp)).toBeGreaterThan(Date.now() / 1000);
  });

  it('refuses a token to a foreign client_id (a user-assigned identity the VM does not have) and outside a VM', async () => {
    const own = (await (await tokenOf('pg1')).json()) as { client_id: string };
    expect((await tokenOf('pg1', APP_RESOURCE, `&client_id=${own.client_id}`)).status).toBe(200);
    const foreign = await tokenOf('pg1', APP_RESOURCE, '&client_id=6a4f1c52-8a43-4c8e-9d8c-0b8a2f3c1d7e');
    expect(foreign.status).toBe(400);
    expect(await foreign.json()).toMatchObject({ error_description: 'Identity not found' });
    const bare = await tokenOf(undefined);
    expect(bare.status).toBe(400);
    expect(await bare.json()).toMatchObject({ error_description: 'Identity not found' });
    expect((await tokenOf('pg1', '')).status).toBe(400); // no resource
    expect(imds.record.tokens.map((t) => t.vm)).toEqual(['pg1', 'pg1']);
  });

  it('with a shared issuer, tokens are signed by its published key and name the given resource ids', async () => {
    const entra = createEntraIssuer('11111111-2222-4333-8444-555555555555');
    const resourceId = (vm: string) => `/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/lab/providers/Microsoft.Compute/virtualMachines/${vm}`;
    const shared = await startScheduledEventsEmulator({ vms: ['pg1'], identity: { entra, vmResourceId: resourceId } });
    try {
      const answer = await fetch(`${shared.baseUrl('pg1')}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(APP_RESOURCE)}`, { headers: { Metadata: 'true' } });
      const token = ((await answer.json()) as { access_token: string }).access_token;
      const [header, payload, signature] = token.split('.');
      const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { kid: string; alg: string };
      const jwk = entra.keys().keys.find((k) => k.kid === kid);
      expect(alg).toBe('RS256');
      expect(jwk).toBeDefined();
      const key = createPublicKey({ key: { kty: 'RSA', n: jwk!.n as string, e: jwk!.e as string }, format: 'jwk' });
      expect(verify('sha256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))).toBe(true);
      expect(jwtClaims(token)).toMatchObject({ aud: APP_RESOURCE, iss: `https://sts.windows.net/${entra.tenantId}/`, tid: entra.tenantId, xms_mirid: resourceId('pg1'), oid: vmPrincipalId(resourceId('pg1')) });
    } finally {
      await shared.stop();
    }
  });
});
