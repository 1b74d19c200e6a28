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
 * a failed read is not cached. Values are wrapped at once and never logged. A value this store
 * sets is cached as read.
 */
export class KeyVaultSecretStore implements SecretStore {
  private readonly options: ResolvedAdapterOptions;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly client: Pick<SecretClient, 'getSecret' | 'setSecret'>,
    options: AzureAdapterOptions = {},
  ) {
    this.options = resolveAdapterOptions(options);
  }

  get(name: string, { maxAgeMs }: { maxAgeMs?: number } = {}): Promise<SecretValue> {
    const now = this.options.clock.now();
    const cached = this.cache.get(name);
    if (cached && now - cached.fetchedAt < Math.min(this.options.secretTtlMs, maxAgeMs ?? Infinity)) return cached.value;
    const value = this.fetch(name);
    const entry = { value, fetchedAt: now };
    this.cache.set(name, entry);
    value.catch(() => {
      if (this.cache.get(name) === entry) this.cache.delete(name);
    });
    return value;
  }

  async set(name: string, value: string): Promise<void> {
    this.options.log.info('secret.store', { name });
    try {
      await this.client.setSecret(name, value);
    } catch (error) {
      const info = azureErrorInfo(error);
      const context = { ...(this.options.cluster ? { cluster: this.options.cluster } : {}), secret: name };
      const grant = info.statusCode === 403 ? ": grant the app's identity Key Vault Secrets Officer on the vault (main.bicep does when the sample's agents enroll)" : '';
      throw new SecretStoreError(`Could not store secret "${name}" in Key Vault (${info.statusCode ?? 'no response'}: ${info.message})${grant}`, context);
    }
    this.cache.set(name, { value: Promise.resolve(new SecretValue(name, value)), fetchedAt: this.options.clock.now() });
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
