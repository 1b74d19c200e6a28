import { KeyVaultSecretStore } from '../../../src/adapters/azure/key-vault-secrets';
import type { Clock } from '../../../src/adapters/azure/backoff';
import { SecretNotFoundError, SecretStoreError } from '../../../src/ports/errors';
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

  test('a value older than maxAgeMs is read again', async () => {
    const store = new KeyVaultSecretStore(h.clients.secrets(), { ...h.options, secretTtlMs: 60_000, clock });
    h.emulator.control.setSecret('aged', 'first');
    expect((await store.get('aged')).reveal()).toBe('first');
    h.emulator.control.setSecret('aged', 'second');
    expect((await store.get('aged')).reveal()).toBe('first');
    expect((await store.get('aged', { maxAgeMs: 0 })).reveal()).toBe('second');
  });

  test('storing needs Key Vault Secrets Officer: with Secrets User, Key Vault refuses (403) and nothing is stored; granted, the value is stored and read', async () => {
    const store = new KeyVaultSecretStore(h.clients.secrets(), { ...h.options, clock });
    const refused = store.set('pg-step-key-pg9', 'a-value');
    await expect(refused).rejects.toThrow(SecretStoreError);
    await expect(refused).rejects.toThrow(/Could not store secret "pg-step-key-pg9" in Key Vault \(403: .*setSecret\/action.*\): grant the app's identity Key Vault Secrets Officer/s);
    expect(h.emulator.control.secret('pg-step-key-pg9')).toBeUndefined();

    h.emulator.control.setKeyVaultRole('Key Vault Secrets Officer');
    try {
      await store.set('pg-step-key-pg9', 'a-value');
      expect(h.emulator.control.secret('pg-step-key-pg9')).toBe('a-value');
      const reads = vaultRequests().length;
      expect((await store.get('pg-step-key-pg9')).reveal()).toBe('a-value');
      expect(vaultRequests()).toHaveLength(reads);
      expect((await new KeyVaultSecretStore(h.clients.secrets(), { ...h.options, clock }).get('pg-step-key-pg9')).reveal()).toBe('a-value');
    } finally {
      h.emulator.control.setKeyVaultRole('Key Vault Secrets User');
    }
  });
});
