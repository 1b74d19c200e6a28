import type { AccessToken, TokenCredential } from '@azure/identity';

/**
 * Local mode only: the local Azure emulator accepts any bearer token, so there is nothing to
 * sign in to. Everything else about the SDK clients (pipeline, bearer policy, Key Vault
 * challenge handling) stays the production code path.
 */
export class StaticTokenCredential implements TokenCredential {
  constructor(private readonly token: string = 'local-azure-emulator-token') {}

  async getToken(): Promise<AccessToken> {
    return { token: this.token, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 };
  }
}
