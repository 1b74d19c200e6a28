import { startScheduledEventsEmulator, ScheduledEventsEmulator } from '../../../harness/local/azure-emulator/scheduled-events';

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

  it('answers a VM its own name and managed identity tokens', async () => {
    const name = await fetch(`${imds.baseUrl('pg2')}/metadata/instance/compute/name?api-version=2021-02-01&format=text`, { headers: { Metadata: 'true' } });
    expect(await name.text()).toBe('pg2');
    const token = await fetch(`${imds.baseUrl('pg2')}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent('api://app')}`, { headers: { Metadata: 'true' } });
    expect(await token.json()).toMatchObject({ token_type: 'Bearer', resource: 'api://app', access_token: imds.record.tokens[0].accessToken });
    expect((await fetch(`${imds.baseUrl('pg9')}/metadata/scheduledevents?api-version=2020-07-01`, { headers: { Metadata: 'true' } })).status).toBe(404);
  });
});
