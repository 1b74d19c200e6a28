import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';

/**
 * Entra ID's part in local mode: it signs the managed identity tokens the emulated metadata
 * service (scheduled-events.ts) hands to a VM, and publishes its signing keys where the app reads
 * them (`{authority}/{tenant}/discovery/v2.0/keys`, served by the ARM emulator's listener).
 *
 * A token is shaped like the v1.0 access token Entra issues to a VM's system-assigned identity
 * (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference): RS256 with
 * `kid`, `aud` = the requested resource, `iss` = https://sts.windows.net/{tenant}/, `oid`/`sub` =
 * the identity's object (principal) id — the `identity.principalId` ARM shows on the VM —,
 * `idtyp` app, `xms_mirid` the VM's resource id, one day of validity. The key is made when the
 * emulator starts: a new start is a key rollover, and tokens signed before it are refused, as
 * Entra refuses tokens of a retired key.
 */
export interface EntraIssuer {
  readonly tenantId: string;
  /** The signing keys document (JWKS) as Entra publishes it. */
  keys(): { keys: Record<string, unknown>[] };
  /** A managed identity access token of `vmResourceId`'s system-assigned identity for `resource`. */
  managedIdentityToken(vmResourceId: string, resource: string, nowSeconds?: number): { accessToken: string; expiresOn: number; clientId: string };
  /** For tests: a token with these claims over the standard ones, signed by this issuer (or, with `foreignKey`, by a key it never published). */
  signClaims(claims: Record<string, unknown>, options?: { foreignKey?: boolean }): string;
}

export const ENTRA_KEYS_PATH = /^\/([^/]+)\/discovery\/v2\.0\/keys$/;

/** The object id of a VM's system-assigned identity: the same for the same resource id, as ARM keeps it for the VM's life. */
export function vmPrincipalId(vmResourceId: string): string {
  return stableUuid(`principal:${vmResourceId.toLowerCase()}`);
}

/** The application (client) id of that identity. */
function vmClientId(vmResourceId: string): string {
  return stableUuid(`client:${vmResourceId.toLowerCase()}`);
}

export function createEntraIssuer(tenantId: string): EntraIssuer {
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID().replace(/-/g, '').toUpperCase();
  const issuer = `https://sts.windows.net/${tenantId}/`;

  const signed = (payload: Record<string, unknown>, key: KeyObject = signing.privateKey) => {
    const header = { typ: 'JWT', alg: 'RS256', kid, x5t: kid };
    const body = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    return `${body}.${sign('sha256', Buffer.from(body), key).toString('base64url')}`;
  };
  const standardClaims = (nowSeconds: number) => ({ iss: issuer, iat: nowSeconds, nbf: nowSeconds, exp: nowSeconds + 86_399, tid: tenantId, ver: '1.0', idtyp: 'app', appidacr: '2' });

  return {
    tenantId,
    keys() {
      const jwk = signing.publicKey.export({ format: 'jwk' });
      return { keys: [{ kty: 'RSA', use: 'sig', kid, x5t: kid, n: jwk.n, e: jwk.e, issuer: `https://login.microsoftonline.com/${tenantId}/v2.0` }] };
    },
    managedIdentityToken(vmResourceId, resource, nowSeconds = Math.floor(Date.now() / 1000)) {
      const principal = vmPrincipalId(vmResourceId);
      const clientId = vmClientId(vmResourceId);
      const claims = { ...standardClaims(nowSeconds), aud: resource, oid: principal, sub: principal, appid: clientId, xms_mirid: vmResourceId };
      return { accessToken: signed(claims), expiresOn: claims.exp, clientId };
    },
    signClaims(claims, options = {}) {
      const key = options.foreignKey ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : signing.privateKey;
      return signed({ ...standardClaims(Math.floor(Date.now() / 1000)), ...claims }, key);
    },
  };
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/** A version-4-shaped UUID that is the same for the same text. */
export function stableUuid(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
