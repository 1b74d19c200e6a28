import type { SecretValue } from '../domain/secret-value';

/** Passwords and certificates, read from Key Vault by name. Values come wrapped so they cannot be logged. */
export interface SecretStore {
  /**
   * Rejects with SecretNotFoundError when no such secret exists. A value read up to a few minutes
   * ago may be answered again; `maxAgeMs` bounds that (0: read it now).
   */
  get(name: string, options?: { maxAgeMs?: number }): Promise<SecretValue>;
  /** Stores a new version of the secret `name`; later reads answer it. */
  set(name: string, value: string): Promise<void>;
}
