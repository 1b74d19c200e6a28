import { readFileSync } from 'node:fs';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { ConfigError } from '../../domain/errors';
import { ifMatchOnWritesPolicy } from './if-match-policy';
import { requestTimeoutPolicy } from './request-timeout';
import { AZURE_SETTING_NAMES, type AzureSettings } from './settings';
import { StaticTokenCredential } from './static-token-credential';

/** Every Azure SDK client the adapters use, built in one place from AzureSettings. */
export interface AzureClients {
  readonly settings: AzureSettings;
  readonly credential: TokenCredential;
  /** ARM clients are per subscription; the subscription comes from the resource ids in the cluster configuration. */
  compute(subscriptionId: string): ComputeManagementClient;
  network(subscriptionId: string): NetworkManagementClient;
  /** Throws ConfigError when KEY_VAULT_URL is not set. */
  secrets(): SecretClient;
}

export interface AzureClientOverrides {
  /** Replaces the credential chosen from the settings (tests, or a caller with its own identity). */
  credential?: TokenCredential;
}

/**
 * Production: DefaultAzureCredential (the Function App's managed identity; AZURE_CLIENT_ID picks
 * a user-assigned one), public Azure endpoints, the system's CA store.
 * Local mode (PG_FAILOVER_LOCAL_CA_FILE set): a static token, the emulator's endpoints, its CA as
 * the only trusted root, and Key Vault's challenge-resource check off (the emulator is not under
 * *.vault.azure.net). Nothing else differs.
 */
export function createAzureClients(settings: AzureSettings, overrides: AzureClientOverrides = {}): AzureClients {
  const local = settings.localCaFile !== undefined;
  const credential = overrides.credential ?? azureCredential(settings, settings.managedIdentityClientId);
  const tlsOptions = azureTlsOptions(settings);
  const armScope = `${settings.armEndpoint}/.default`;
  // Every ARM request is bounded (request-timeout.ts): the SDK has no timeout of its own.
  const requestTimeout = { policy: requestTimeoutPolicy(settings.armRequestTimeoutMs), position: 'perCall' as const };

  const computeClients = new Map<string, ComputeManagementClient>();
  const networkClients = new Map<string, NetworkManagementClient>();
  let secretClient: SecretClient | undefined;

  return {
    settings,
    credential,
    compute(subscriptionId) {
      let client = computeClients.get(subscriptionId);
      if (!client) {
        client = new ComputeManagementClient(credential, subscriptionId, { endpoint: settings.armEndpoint, credentials: { scopes: [armScope] }, tlsOptions, additionalPolicies: [requestTimeout] });
        computeClients.set(subscriptionId, client);
      }
      return client;
    },
    network(subscriptionId) {
      let client = networkClients.get(subscriptionId);
      if (!client) {
        client = new NetworkManagementClient(credential, subscriptionId, {
          endpoint: settings.armEndpoint,
          credentials: { scopes: [armScope] },
          tlsOptions,
          additionalPolicies: [requestTimeout, { policy: ifMatchOnWritesPolicy(), position: 'perCall' }],
        });
        networkClients.set(subscriptionId, client);
      }
      return client;
    },
    secrets() {
      if (!settings.keyVaultUrl) {
        throw new ConfigError('the Azure app settings', [{ path: AZURE_SETTING_NAMES.keyVaultUrl, message: 'required to read passwords: the Key Vault URL, e.g. https://my-vault.vault.azure.net' }]);
      }
      secretClient ??= new SecretClient(settings.keyVaultUrl, credential, { tlsOptions, disableChallengeResourceVerification: local });
      return secretClient;
    },
  };
}

/** The app's identity: a user-assigned managed identity when `clientId` is set; local mode's static token. */
export function azureCredential(settings: AzureSettings, clientId: string | undefined): TokenCredential {
  if (settings.localCaFile !== undefined) return new StaticTokenCredential();
  return new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
}

/**
 * Local mode: the emulator's CA as the only trusted root. core-rest-pipeline hands tlsOptions to
 * the https.Agent of each client; NODE_EXTRA_CA_CERTS would also work but only when set before
 * the process starts, which the in-process tests cannot do.
 */
export function azureTlsOptions(settings: AzureSettings): { ca: string } | undefined {
  return settings.localCaFile !== undefined ? { ca: readCaFile(settings.localCaFile) } : undefined;
}

function readCaFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('the Azure app settings', [
      { path: AZURE_SETTING_NAMES.localCaFile, message: `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it is written by the local Azure emulator when it starts` },
    ]);
  }
}
