import { request } from 'node:https';
import { createRemoteJWKSet, customFetch, errors, type FetchImplementation, jwtVerify } from 'jose';
import { NodeAuthenticationError } from '../../domain/errors';
import { azureTlsOptions } from './clients';
import type { AzureSettings } from './settings';

/** Who an Entra access token was issued to: the object (principal) id of the identity, in its tenant, and for a managed identity its resource id. */
export interface TokenSubject {
  objectId: string;
  tenantId: string;
  /** `xms_mirid`: the resource id of a managed identity (a VM's, for its system-assigned one). */
  managedIdentityResourceId: string | null;
}

export type EntraTokenVerifier = (token: string) => Promise<TokenSubject>;

/** Entra tokens carry nbf/exp in whole seconds; a minute of clock difference is tolerated. */
const CLOCK_TOLERANCE_SECONDS = 60;

/**
 * Checks an Entra access token: RS256 signature by one of the tenant's published keys (fetched from
 * `{authority}/{tenant}/discovery/v2.0/keys`, cached, re-read when a token names an unknown key —
 * Entra rolls its keys), issuer of that tenant (v1.0 or v2.0 tokens), audience NODE_AUTH_AUDIENCE,
 * inside its validity. A bad token is a NodeAuthenticationError 401 saying which check failed; keys
 * that cannot be read are a 503, which the agents retry (an Entra hiccup must not end the
 * coordination of a maintenance).
 */
export function createEntraTokenVerifier(settings: AzureSettings, audience: string, tenantId: string): EntraTokenVerifier {
  const keysUrl = new URL(`${settings.authorityHost}/${tenantId}/discovery/v2.0/keys`);
  const tls = azureTlsOptions(settings);
  const keys = createRemoteJWKSet(keysUrl, tls ? { [customFetch]: fetchTrusting(tls.ca) } : {});
  const issuers = [`https://sts.windows.net/${tenantId}/`, `${settings.authorityHost}/${tenantId}/v2.0`];

  return async (token) => {
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, { algorithms: ['RS256'], issuer: issuers, audience, clockTolerance: CLOCK_TOLERANCE_SECONDS, requiredClaims: ['oid', 'tid', 'exp'] }));
    } catch (error) {
      if (keysUnavailable(error)) throw new NodeAuthenticationError("Entra ID's signing keys could not be read, so the token cannot be checked now; try again", 503);
      throw new NodeAuthenticationError(`the bearer token was refused: ${refusal(error, audience)}`, 401);
    }
    const { oid, tid, xms_mirid: mirid } = claims as { oid?: unknown; tid?: unknown; xms_mirid?: unknown };
    if (typeof oid !== 'string' || typeof tid !== 'string' || tid.toLowerCase() !== tenantId) {
      throw new NodeAuthenticationError(`the bearer token was refused: it names no identity of tenant ${tenantId}`, 401);
    }
    return { objectId: oid.toLowerCase(), tenantId: tid.toLowerCase(), managedIdentityResourceId: typeof mirid === 'string' ? mirid : null };
  };
}

/** The key set could not be fetched (timeout, no answer, not 200): nothing is known about the token yet. */
function keysUnavailable(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout) return true;
  if (!(error instanceof errors.JOSEError)) return true;
  return error.code === errors.JOSEError.code;
}

function refusal(error: unknown, audience: string): string {
  if (error instanceof errors.JWTExpired) return 'it has expired (get a new one from the metadata service)';
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') return `it was issued for another audience (request it for ${audience})`;
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'iss') return 'it was issued by another tenant or authority';
  if (error instanceof errors.JWTClaimValidationFailed) return `its ${error.claim} claim is not acceptable (${error.reason})`;
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey) return "its signature is not by one of the tenant's signing keys";
  if (error instanceof errors.JOSEAlgNotAllowed) return 'it is not signed with RS256';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'it is not a signed JWT';
  return (error as Error).message;
}

/** Local mode: the signing keys come from the emulator, whose CA is the only one trusted. */
function fetchTrusting(ca: string): FetchImplementation {
  return (url, options) =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: options.method, headers: Object.fromEntries(options.headers.entries()), ca, signal: options.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500 })));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
}
