import { ComputeManagementClient } from '@azure/arm-compute';
import { azureTlsOptions, createAzureClients } from '../../../src/adapters/azure/clients';
import { AzureFencing } from '../../../src/adapters/azure/fencing';
import { ArmRequestTimeoutError } from '../../../src/adapters/azure/request-timeout';
import { FencingError } from '../../../src/ports/errors';
import { ARM_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../../harness/local/azure-emulator';
import { type Harness, startHarness, SUBSCRIPTION, testCluster, waitFor } from '../../integration/azure/harness';

/** What a refused request carries: the SDK's RestError with the raw response. */
interface RefusedRequest {
  statusCode?: number;
  code?: string;
  response?: { headers: { get(name: string): string | undefined } };
}

/**
 * The emulator's "ARM unavailable" control, seen through the real compute SDK: ARM answers 503
 * (or nothing), Key Vault stays up, and it all comes back when ARM does.
 */
describe('ARM unavailable', () => {
  let h: Harness;
  const rg = 'pg-rg';
  const armRequests = () => h.emulator.record.requests.filter((r) => r.url.startsWith('/subscriptions/'));
  /** A compute client without the SDK's retries, to see single answers. */
  const bareCompute = () =>
    new ComputeManagementClient(h.clients.credential, SUBSCRIPTION, {
      endpoint: h.clients.settings.armEndpoint,
      credentials: { scopes: [`${h.clients.settings.armEndpoint}/.default`] },
      tlsOptions: azureTlsOptions(h.clients.settings),
      retryOptions: { maxRetries: 0 },
    });

  beforeAll(async () => {
    h = await startHarness(testCluster('nic'), {}, { pg1: 'write', pg2: 'read' });
  });
  afterEach(() => h.emulator.control.makeArmAvailable());
  afterAll(() => h.emulator.stop());

  test("'503': ARM's error shape and Retry-After on every request; the SDK retries, then gives up; back when ARM is", async () => {
    await expect(bareCompute().virtualMachines.get(rg, 'pg1')).resolves.toMatchObject({ name: 'pg1' });

    h.emulator.control.makeArmUnavailable('503');
    let body: string | undefined;
    const onResponse = (raw: { bodyAsText?: string | null }) => (body = raw.bodyAsText ?? undefined);
    const refused = (await bareCompute().virtualMachines.get(rg, 'pg1', { onResponse }).catch((error: unknown) => error)) as RefusedRequest;
    expect(refused).toMatchObject({ statusCode: 503, code: 'ServiceUnavailable' });
    expect(refused.response?.headers.get('retry-after')).toBe(String(ARM_UNAVAILABLE_RETRY_AFTER_SECONDS));
    expect(JSON.parse(body ?? '')).toEqual({ error: { code: 'ServiceUnavailable', message: expect.stringMatching(/unavailable/) } });

    // The app's client retries a 503 three times after its Retry-After (0 here), then fails.
    h.emulator.control.makeArmUnavailable('503', { retryAfterSeconds: 0 });
    const before = armRequests().length;
    await expect(h.clients.compute(SUBSCRIPTION).virtualMachines.get(rg, 'pg1')).rejects.toMatchObject({ statusCode: 503, code: 'ServiceUnavailable' });
    expect(armRequests().slice(before)).toEqual(Array(4).fill(expect.objectContaining({ method: 'GET', url: expect.stringMatching(/\/virtualMachines\/pg1\?/), status: 503 })));

    h.emulator.control.makeArmAvailable();
    await expect(h.clients.compute(SUBSCRIPTION).virtualMachines.get(rg, 'pg1')).resolves.toMatchObject({ name: 'pg1' });
    expect(armRequests().at(-1)).toMatchObject({ method: 'GET', status: 200 });
  });

  test('Key Vault stays available while ARM is not', async () => {
    h.emulator.control.makeArmUnavailable('503');
    await expect(h.clients.secrets().getSecret('pg-admin-password')).resolves.toMatchObject({ name: 'pg-admin-password', value: expect.any(String) });
    h.emulator.control.makeArmUnavailable('timeout');
    await expect(h.clients.secrets().getSecret('pg-replication-password')).resolves.toMatchObject({ name: 'pg-replication-password' });
  });

  test("'timeout': a request hangs until the client gives up, and is recorded unanswered (status 0)", async () => {
    h.emulator.control.makeArmUnavailable('timeout');
    const before = armRequests().length;
    const started = Date.now();
    await expect(bareCompute().virtualMachines.get(rg, 'pg1', { abortSignal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await waitFor('the request to be recorded', () => armRequests().length > before);
    expect(h.emulator.control.hangingArmRequests()).toBe(0);
    expect(armRequests().slice(before)).toEqual([expect.objectContaining({ method: 'GET', status: 0 })]);

    // The app's clients bound every ARM request themselves (PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS).
    const bounded = createAzureClients({ ...h.clients.settings, armRequestTimeoutMs: 300 });
    const error = await bounded.compute(SUBSCRIPTION).virtualMachines.get(rg, 'pg1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArmRequestTimeoutError);
    expect((error as Error).message).toMatch(/^ARM did not answer GET \/subscriptions\/.+\/virtualMachines\/pg1 within 0\.3 s/);
  });

  test("'timeout': a request that hung through the outage is answered 503 when ARM is back, not carried out", async () => {
    h.emulator.control.makeArmUnavailable('timeout', { retryAfterSeconds: 0 });
    const before = armRequests().length;
    const powerOff = bareCompute().virtualMachines.powerOff(rg, 'pg3', { skipShutdown: true, updateIntervalInMs: 5 });
    powerOff.catch(() => undefined);
    await waitFor('the request to hang', () => h.emulator.control.hangingArmRequests() === 1);
    expect(armRequests().length).toBe(before); // recorded once it ends
    h.emulator.control.makeArmAvailable();
    await expect(powerOff).rejects.toMatchObject({ statusCode: 503, code: 'ServiceUnavailable' });
    expect(armRequests().slice(before)).toEqual([expect.objectContaining({ method: 'POST', url: expect.stringMatching(/\/pg3\/powerOff\?/), status: 503 })]);
    expect(h.emulator.control.powerState('pg3')).toBe('running');
  });

  test('an operation accepted before the outage runs to its end; only its polls fail', async () => {
    const fencing = new AzureFencing(createAzureClients({ ...h.clients.settings, armRequestTimeoutMs: 5000 }), h.options);
    const release = h.emulator.control.holdOperations();
    const off = fencing.powerOff(h.cluster.nodes[1]).catch((error: unknown) => error);
    await waitFor('the power off to be accepted', () => h.emulator.control.powerState('pg2') === 'stopping');
    h.emulator.control.makeArmUnavailable('503', { retryAfterSeconds: 0 });
    release();
    await waitFor('the VM to stop', () => h.emulator.control.powerState('pg2') === 'stopped');
    const error = await off;
    expect(error).toBeInstanceOf(FencingError);
    expect(error).toMatchObject({ context: { cluster: 'orders', node: 'pg2', step: 'fence' }, message: expect.stringMatching(/Could not powerOff VM pg2: .*unavailable/) });
    expect(armRequests().filter((r) => /\/operations\//.test(r.url) && r.status === 503).length).toBeGreaterThanOrEqual(4);

    h.emulator.control.makeArmAvailable();
    await expect(fencing.powerState(h.cluster.nodes[1])).resolves.toBe('stopped');
  });
});
