import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { request } from 'node:https';
import { type AzureEmulator, describeLatency, REALISTIC_LATENCY, startAzureEmulator, worldFromCluster } from '../../../harness/local/azure-emulator';
import { testCluster } from './harness';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** A bare HTTPS client, to see exactly what the emulator answers (no SDK in between). */
function call(emulator: AzureEmulator, method: string, path: string, options: { token?: boolean; body?: string; ca?: boolean } = {}): Promise<Reply> {
  const url = new URL(path, emulator.endpoint);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: options.ca === false ? undefined : readFileSync(emulator.caFile),
        headers: { ...(options.token === false ? {} : { Authorization: 'Bearer test-token' }), ...(options.body ? { 'Content-Type': 'application/json' } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const VM = '/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/pg-rg/providers/Microsoft.Compute/virtualMachines';
const API = 'api-version=2026-04-01';

describe('the local Azure speaks Azure', () => {
  let emulator: AzureEmulator;
  beforeAll(async () => {
    emulator = await startAzureEmulator({ world: worldFromCluster(testCluster('nic'), { secrets: { s1: 'v1' } }), latency: 'zero' });
  });
  afterAll(() => emulator.stop());

  test('HTTPS only, with a certificate clients must be told to trust', async () => {
    const plain = new Promise((resolve, reject) => httpGet(`${emulator.endpoint.replace('https:', 'http:')}/subscriptions?${API}`, resolve).on('error', reject));
    await expect(plain).rejects.toThrow();
    await expect(call(emulator, 'GET', `${VM}/pg1?${API}`, { ca: false })).rejects.toThrow(/self[- ]signed|unable to verify|local issuer/i);
    await expect(call(emulator, 'GET', `${VM}/pg1?${API}`)).resolves.toMatchObject({ status: 200 });
  });

  test('ARM rules: api-version required, bearer token required, unknown resources 404, malformed bodies 400', async () => {
    await expect(call(emulator, 'GET', `${VM}/pg1`)).resolves.toMatchObject({ status: 400, body: { error: { code: 'MissingApiVersionParameter' } } });
    await expect(call(emulator, 'GET', `${VM}/pg1?${API}`, { token: false })).resolves.toMatchObject({ status: 401, body: { error: { code: 'AuthenticationFailed' } } });
    // A VM outside the app's role assignments is refused before ARM looks it up; under an assigned VM, a missing child is 404.
    await expect(call(emulator, 'GET', `${VM}/pg9?${API}`)).resolves.toMatchObject({ status: 403, body: { error: { code: 'AuthorizationFailed' } } });
    await expect(call(emulator, 'GET', `${VM}/pg1/runCommands/nothing-here?${API}`)).resolves.toMatchObject({ status: 404 });
    await expect(call(emulator, 'POST', `${VM}/pg1/runCommand?${API}`, { body: '{"commandId": ' })).resolves.toMatchObject({ status: 400, body: { error: { code: 'InvalidRequestContent' } } });
    await expect(call(emulator, 'POST', `${VM}/pg1/runCommand?${API}`, { body: '{"commandId": 7}' })).resolves.toMatchObject({ status: 400, body: { error: { code: 'InvalidRequestFormat' } } });
  });

  test('Key Vault answers a request without a token with its challenge', async () => {
    const reply = await call(emulator, 'GET', '/secrets/s1?api-version=2026-04-01', { token: false });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+", resource="https:\/\/vault\.azure\.net"$/);
    await expect(call(emulator, 'GET', '/secrets/s1?api-version=2026-04-01')).resolves.toMatchObject({ status: 200, body: { value: 'v1' } });
    await expect(call(emulator, 'GET', '/secrets/nope?api-version=2026-04-01')).resolves.toMatchObject({ status: 404, body: { error: { code: 'SecretNotFound' } } });
  });

  test('action Run Command: 202 with Azure-AsyncOperation and Location, polled to a result without an exit code', async () => {
    const started = await call(emulator, 'POST', `${VM}/pg2/runCommand?${API}`, { body: JSON.stringify({ commandId: 'RunShellScript', script: ['echo out', 'echo err >&2', 'exit 3'] }) });
    expect(started.status).toBe(202);
    const statusUrl = started.headers['azure-asyncoperation'] as string;
    const resultUrl = started.headers.location as string;
    expect(statusUrl).toMatch(/^https:\/\/.+\/operations\/[^/?]+\?api-version=/);
    let status: Reply;
    do status = await call(emulator, 'GET', statusUrl);
    while ((status.body as { status: string }).status === 'InProgress');
    expect(status.body).toMatchObject({ status: 'Succeeded' });
    const result = await call(emulator, 'GET', resultUrl);
    expect(result.body).toEqual({ value: [{ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', message: 'Enable succeeded: \n[stdout]\nout\n\n[stderr]\nerr\n' }] });
  });

  test('managed Run Command: the same request under the same name does not run again', async () => {
    const body = JSON.stringify({ location: 'westeurope', properties: { source: { script: 'echo once' }, asyncExecution: false } });
    const first = await call(emulator, 'PUT', `${VM}/pg2/runCommands/once?${API}`, { body });
    expect(first.status).toBe(201);
    let view: Reply;
    do view = await call(emulator, 'GET', `${VM}/pg2/runCommands/once?$expand=instanceView&${API}`);
    while (['Pending', 'Running'].includes((view.body as { properties: { instanceView: { executionState: string } } }).properties.instanceView.executionState));
    expect(view.body).toMatchObject({ properties: { instanceView: { executionState: 'Succeeded', exitCode: 0, output: 'once\n' } } });
    const again = await call(emulator, 'PUT', `${VM}/pg2/runCommands/once?${API}`, { body });
    expect(again.status).toBe(200);
    expect(emulator.record.executions.filter((e) => e.runCommandName === 'once')).toHaveLength(1);
  });

  test('the realistic latency profile states its assumptions', () => {
    const lines = describeLatency(REALISTIC_LATENCY);
    expect(lines.join('\n')).toMatch(/action Run Command: \+15 s before and \+5 s after/);
    expect(lines.join('\n')).toMatch(/power off: 30 s/);
  });
});
