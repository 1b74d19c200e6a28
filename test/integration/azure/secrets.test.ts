import { KeyVaultSecretStore } from '../../../src/adapters/azure/key-vault-secrets';
import type { Clock } from '../../../src/adapters/azure/backoff';
import { SecretNotFoundError } from '../../../src/ports/errors';
import { ADMIN_PASSWORD, type Harness, REPLICATION_PASSWORD, startHarness, testCluster } from './harness';

describe('Key Vault secrets through the real SecretClient', () => {
  let h: Harness;
  let now = 1_000_000;
  const clock: Clock = { now: () => now, sleep: async () => undefined };
  const vaultRequests = () => h.emulator.record.requests.filter((r) => r.url.startsWith('/secrets/'));

  beforeAll(async () => {
    h = await startHarness(testCluster('nic'));
  });
  afterAll(() => h.emulator.stop());

  test('first read goes through the 401 challenge, then the cache answers until the TTL passes', async () => {
    const store = new KeyVaultSecretStore(h.clients.secrets(), { ...h.options, secretTtlMs: 60_000, clock });
    const secret = await store.get('pg-admin-password');
    expect(secret.reveal()).toBe(ADMIN_PASSWORD);
    expect(vaultRequests().map((r) => r.status)).toEqual([401, 200]);

    now += 59_000;
    expect((await store.get('pg-admin-password')).reveal()).toBe(ADMIN_PASSWORD);
    expect(vaultRequests()).toHaveLength(2);

    // After the TTL a rotated password is picked up; the client remembers the challenge, so no second 401.
    h.emulator.control.setSecret('pg-admin-password', `${ADMIN_PASSWORD}-rotated`);
    now += 2_000;
    expect((await store.get('pg-admin-password')).reveal()).toBe(`${ADMIN_PASSWORD}-rotated`);
    expect(vaultRequests().map((r) => r.status)).toEqual([401, 200, 200]);
  });

  test('concurrent reads of one secret share one request', async () => {
    const store = new KeyVaultSecretStore(h.clients.secrets(), { ...h.options, clock });
    const before = vaultRequests().length;
    const values = await Promise.all([store.get('pg-replication-password'), store.get('pg-replication-password'), store.get('pg-replication-password')]);
    expect(values.map((v) => v.reveal())).toEqual([REPLICATION_PASSWORD, REPLICATION_PASSWORD, REPLICATION_PASSWORD]);
    expect(vaultRequests().length - before).toBe(1);
  });

  test('a missing secret is a typed error, and is not cached', async () => {
    const store = new KeyVaultSecretStore(h.clients.secrets(), { ...h.options, clock });
    await expect(store.get('no-such-secret')).rejects.toThrow(SecretNotFoundError);
    h.emulator.control.setSecret('no-such-secret', 'now-it-exists');
    await expect(store.get('no-such-secret').then((v) => v.reveal())).resolves.toBe('now-it-exists');
  });
});
