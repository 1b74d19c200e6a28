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
      armRequestTimeoutMs: 120_000,
      nodeAuthAudience: undefined,
      nodeAuthTenantId: undefined,
      authorityHost: 'https://login.microsoftonline.com',
    });
  });

  test('node authentication: audience and tenant as given (tenant id in lower case)', () => {
    const settings = readAzureSettings({ NODE_AUTH_AUDIENCE: 'api://pg-failover-nodes', NODE_AUTH_TENANT_ID: '72F988BF-86F1-41AF-91AB-2D7CD011DB47' });
    expect(settings).toMatchObject({ nodeAuthAudience: 'api://pg-failover-nodes', nodeAuthTenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', authorityHost: 'https://login.microsoftonline.com' });
  });

  test('local mode: emulator endpoints and CA', () => {
    const settings = readAzureSettings({ ARM_ENDPOINT: 'https://127.0.0.1:4443', KEY_VAULT_URL: 'https://127.0.0.1:4443', PG_FAILOVER_LOCAL_CA_FILE: '/tmp/ca.pem', PG_FAILOVER_AZURE_POLL_INTERVAL_MS: '20', PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS: '2000' });
    expect(settings).toMatchObject({ armEndpoint: 'https://127.0.0.1:4443', localCaFile: '/tmp/ca.pem', pollIntervalMs: 20, armRequestTimeoutMs: 2000 });
  });

  test('every problem is reported at once', () => {
    let error: unknown;
    try {
      readAzureSettings({
        ARM_ENDPOINT: 'http://127.0.0.1:80',
        KEY_VAULT_URL: 'vault',
        PG_FAILOVER_LOCAL_CA_FILE: 'ca.pem',
        PG_FAILOVER_AZURE_POLL_INTERVAL_MS: 'soon',
        PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS: '0',
        NODE_AUTH_AUDIENCE: 'api://two words',
        NODE_AUTH_TENANT_ID: 'contoso',
        AZURE_AUTHORITY_HOST: 'http://login',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).problems.map((p) => p.path).sort();
    expect(paths).toEqual(['ARM_ENDPOINT', 'AZURE_AUTHORITY_HOST', 'KEY_VAULT_URL', 'NODE_AUTH_AUDIENCE', 'NODE_AUTH_TENANT_ID', 'PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS', 'PG_FAILOVER_AZURE_POLL_INTERVAL_MS', 'PG_FAILOVER_LOCAL_CA_FILE']);
  });

  test('local mode must not point at real Azure', () => {
    expect(() => readAzureSettings({ PG_FAILOVER_LOCAL_CA_FILE: '/tmp/ca.pem' })).toThrow(/local Azure emulator/);
    const local = { ARM_ENDPOINT: 'https://127.0.0.1:4443', PG_FAILOVER_LOCAL_CA_FILE: '/tmp/ca.pem', NODE_AUTH_AUDIENCE: 'api://nodes' };
    expect(() => readAzureSettings(local)).toThrow(/AZURE_AUTHORITY_HOST: .*local Azure emulator \(it signs the VMs' identity tokens\)/);
    expect(readAzureSettings({ ...local, AZURE_AUTHORITY_HOST: 'https://127.0.0.1:4443' }).authorityHost).toBe('https://127.0.0.1:4443');
  });
});
