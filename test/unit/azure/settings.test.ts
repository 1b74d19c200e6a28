import { readAzureSettings } from '../../../src/adapters/azure/settings';
import { ConfigError } from '../../../src/domain/errors';

describe('Azure settings', () => {
  test('production defaults: public ARM, managed identity, no local CA', () => {
    expect(readAzureSettings({ KEY_VAULT_URL: 'https://my-vault.vault.azure.net/', AZURE_CLIENT_ID: 'abc' })).toEqual({
      armEndpoint: 'https://management.azure.com',
      keyVaultUrl: 'https://my-vault.vault.azure.net',
      managedIdentityClientId: 'abc',
      localCaFile: undefined,
      pollIntervalMs: 1000,
    });
  });

  test('local mode: emulator endpoints and CA', () => {
    const settings = readAzureSettings({ ARM_ENDPOINT: 'https://127.0.0.1:4443', KEY_VAULT_URL: 'https://127.0.0.1:4443', PG_FAILOVER_LOCAL_CA_FILE: '/tmp/ca.pem', PG_FAILOVER_AZURE_POLL_INTERVAL_MS: '20' });
    expect(settings).toMatchObject({ armEndpoint: 'https://127.0.0.1:4443', localCaFile: '/tmp/ca.pem', pollIntervalMs: 20 });
  });

  test('every problem is reported at once', () => {
    let error: unknown;
    try {
      readAzureSettings({ ARM_ENDPOINT: 'http://127.0.0.1:80', KEY_VAULT_URL: 'vault', PG_FAILOVER_LOCAL_CA_FILE: 'ca.pem', PG_FAILOVER_AZURE_POLL_INTERVAL_MS: 'soon' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).problems.map((p) => p.path).sort();
    expect(paths).toEqual(['ARM_ENDPOINT', 'KEY_VAULT_URL', 'PG_FAILOVER_AZURE_POLL_INTERVAL_MS', 'PG_FAILOVER_LOCAL_CA_FILE']);
  });

  test('local mode must not point at real Azure', () => {
    expect(() => readAzureSettings({ PG_FAILOVER_LOCAL_CA_FILE: '/tmp/ca.pem' })).toThrow(/local Azure emulator/);
  });
});
