import type { SecretValue } from '../domain/secret-value';

/** Passwords and certificates, read from Key Vault by name. Values come wrapped so they cannot be logged. */
export interface SecretStore {
  /** Rejects with SecretNotFoundError when no such secret exists. */
  get(name: string): Promise<SecretValue>;
}
