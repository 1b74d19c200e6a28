import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEntraIssuer, vmPrincipalId } from '../../../harness/local/azure-emulator/entra';
import type { AzureClients } from '../../../src/adapters/azure/clients';
import { createEntraTokenVerifier } from '../../../src/adapters/azure/entra-tokens';
import { type AzureSettings, readAzureSettings } from '../../../src/adapters/azure/settings';
import { createVmPrincipalLookup } from '../../../src/adapters/azure/vm-identity';
import { NodeAuthenticationError } from '../../../src/domain/errors';
import { rejectionOf } from '../../support/rejection';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const AUDIENCE = 'api://pg-failover-nodes-test';
const VM = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-pg1';

const failure = (promise: Promise<unknown>) => rejectionOf<NodeAuthenticationError>(promise);

describe('Entra token verifier', () => {
  const entra = createEntraIssuer(TENANT);
  let keysAnswer: 'keys' | 'error' = 'keys';
  let server: Server;
  let settings: AzureSettings;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (keysAnswer === 'error' || req.url !== `/${TENANT}/discovery/v2.0/keys`) return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entra.keys()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Plain HTTP here (the settings allow only https://): the verifier itself is what is tested.
    settings = { ...readAzureSettings({}), nodeAuthAudience: AUDIENCE, nodeAuthTenantId: TENANT, authorityHost: `http://127.0.0.1:${port}` };
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  beforeEach(() => (keysAnswer = 'keys'));

  it('returns the identity a VM token was issued to, with the VM it names', async () => {
    const verify = createEntraTokenVerifier(settings, AUDIENCE, TENANT);
    const { accessToken } = entra.managedIdentityToken(VM, AUDIENCE);
    await expect(verify(accessToken)).resolves.toEqual({ objectId: vmPrincipalId(VM), tenantId: TENANT, managedIdentityResourceId: VM });
  });

  it('refuses (401) a token for another audience, of another tenant, signed by an unpublished key, or not RS256', async () => {
    const verify = createEntraTokenVerifier(settings, AUDIENCE, TENANT);
    const oid = vmPrincipalId(VM);
    const cases: [string, RegExp][] = [
      [entra.managedIdentityToken(VM, 'https://management.azure.com/').accessToken, /another audience/],
      [entra.signClaims({ aud: AUDIENCE, oid, iss: 'https://sts.windows.net/00000000-0000-0000-0000-000000000000/' }), /another tenant or authority/],
      [entra.signClaims({ aud: AUDIENCE, oid }, { foreignKey: true }), /signature/],
      [`${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ aud: AUDIENCE, oid, tid: TENANT })).toString('base64url')}.`, /RS256|not a signed JWT/],
    ];
    for (const [token, why] of cases) {
      const error = await failure(verify(token));
      expect({ status: error.status, message: error.message }).toEqual({ status: 401, message: expect.stringMatching(why) });
    }
  });

  it('answers 503 (ask again), not 401, when the signing keys cannot be read', async () => {
    keysAnswer = 'error';
    const verify = createEntraTokenVerifier(settings, AUDIENCE, TENANT);
    const error = await failure(verify(entra.managedIdentityToken(VM, AUDIENCE).accessToken));
    expect({ status: error.status, message: error.message }).toEqual({ status: 503, message: expect.stringMatching(/signing keys could not be read.*try again/) });
  });
});

describe('VM principal lookup', () => {
  function fakeClients(answer: () => Promise<{ identity?: { type?: string; principalId?: string } }>) {
    const calls: string[] = [];
    const clients = { compute: () => ({ virtualMachines: { get: (group: string, name: string) => (calls.push(`${group}/${name}`), answer()) } }) } as unknown as AzureClients;
    return { clients, calls };
  }

  it('reads a VM once for concurrent callers and keeps the answer', async () => {
    const { clients, calls } = fakeClients(async () => ({ identity: { type: 'SystemAssigned, UserAssigned', principalId: 'ABC-1' } }));
    let now = 0;
    const lookup = createVmPrincipalLookup(clients, () => now);
    expect(await Promise.all([lookup(VM), lookup(VM), lookup(VM)])).toEqual(['abc-1', 'abc-1', 'abc-1']);
    expect(calls).toEqual(['rg/vm-pg1']);
    now = 4 * 60_000;
    await lookup(VM);
    expect(calls).toHaveLength(1);
    now = 6 * 60_000;
    await lookup(VM);
    expect(calls).toHaveLength(2);
  });

  it('has no principal for a VM without a system-assigned identity', async () => {
    const { clients } = fakeClients(async () => ({ identity: { type: 'UserAssigned' } }));
    await expect(createVmPrincipalLookup(clients)(VM)).resolves.toBeUndefined();
  });

  it('answers 503 without ARM\'s words when the VM cannot be read', async () => {
    const { clients } = fakeClients(async () => Promise.reject(Object.assign(new Error('The client 1111 with object id 2222 does not have authorization over scope /subscriptions/x'), { statusCode: 403 })));
    const error = await failure(createVmPrincipalLookup(clients)(VM));
    expect({ status: error.status, message: error.message }).toEqual({ status: 503, message: 'could not read the identity of VM vm-pg1 to check the caller; try again' });
    expect(error.context.cause).toMatch(/does not have authorization/);
  });
});
