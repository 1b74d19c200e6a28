import type { SecretClient } from '@azure/keyvault-secrets';
import { SecretValue } from '../../domain/secret-value';
import { SecretNotFoundError, SecretStoreError } from '../../ports/errors';
import type { SecretStore } from '../../ports/secrets';
import { type AzureAdapterOptions, type ResolvedAdapterOptions, resolveAdapterOptions } from './options';
import { azureErrorInfo, isNotFound } from './rest-errors';

interface CacheEntry {
  value: Promise<SecretValue>;
  fetchedAt: number;
}

/**
 * Key Vault secrets, cached for a short time: a switchover reads the same passwords several
 * times within seconds, and Key Vault throttles. Concurrent reads of one name share one request;
 * a failed read is not cached. Values are wrapped at once and never logged.
 */
export class KeyVaultSecretStore implements SecretStore {
  private readonly options: ResolvedAdapterOptions;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly client: Pick<SecretClient, 'getSecret'>,
    options: AzureAdapterOptions = {},
  ) {
    this.options = resolveAdapterOptions(options);
  }

  get(name: string): Promise<SecretValue> {
    const now = this.options.clock.now();
    const cached = this.cache.get(name);
    if (cached && now - cached.fetchedAt < this.options.secretTtlMs) return cached.value;
    const value = this.fetch(name);
    const entry = { value, fetchedAt: now };
    this.cache.set(name, entry);
    value.catch(() => {
      if (this.cache.get(name) === entry) this.cache.delete(name);
    });
    return value;
  }

  private async fetch(name: string): Promise<SecretValue> {
    this.options.log.info('secret.fetch', { name });
    let secret;
    try {
      secret = await this.client.getSecret(name);
    } catch (error) {
      const context = { ...(this.options.cluster ? { cluster: this.options.cluster } : {}), secret: name };
      if (isNotFound(error)) throw new SecretNotFoundError(`Key Vault has no secret named "${name}"; create it or correct the name in the cluster configuration`, context);
      const info = azureErrorInfo(error);
      // The SDK error carries the request, not the response body; still, only its status and message are kept.
      throw new SecretStoreError(`Could not read secret "${name}" from Key Vault (${info.statusCode ?? 'no response'}: ${info.message})`, context);
    }
    if (secret.value === undefined) throw new SecretStoreError(`Key Vault returned secret "${name}" without a value (disabled?)`, { secret: name });
    return new SecretValue(name, secret.value);
  }
}
