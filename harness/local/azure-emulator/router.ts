import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCore, Route } from './core';
import { authorize } from './authorization';
import { AzureHttpError, RequestContext } from './http-kit';
import { handleTrack, TRACK_PATH } from './telemetry-ingestion';
import { ENTRA_KEYS_PATH } from './entra';

/**
 * Front door of the emulator: Key Vault paths (/secrets/...), ARM paths (/subscriptions/...) and
 * Application Insights ingestion (/v2.1/track, telemetry-ingestion.ts) and Entra ID's signing keys
 * (/{tenant}/discovery/v2.0/keys, entra.ts) share one HTTPS listener.
 * Key Vault and ARM demand api-version; ARM demands a bearer token, Key Vault answers a request
 * without one with its 401 challenge (which its SDK needs to learn the tenant and resource before
 * it asks for a token).
 */
export function createRequestHandler(core: EmulatorCore, arm: Route[], keyVault: Route[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = new RequestContext(req, res, core.endpoint());
    void handle(core, ctx, arm, keyVault)
      .catch((error: unknown) => {
        if (res.headersSent) return; // a handler that already answered and then failed later: nothing to tell the client
        ctx.sendError(error instanceof AzureHttpError ? error : new AzureHttpError(500, 'InternalServerError', `The emulator failed: ${(error as Error).message}`));
      })
      // Status 0: never answered (the client gave up on a request ARM left hanging).
      .finally(() => core.record.requests.push({ method: ctx.method, url: `${ctx.url.pathname}${ctx.url.search}`, status: ctx.status || (res.headersSent ? res.statusCode : 0) }));
  };
}

async function handle(core: EmulatorCore, ctx: RequestContext, arm: Route[], keyVault: Route[]): Promise<void> {
  const path = ctx.url.pathname;
  if (TRACK_PATH.test(path)) return handleTrack(core, ctx);
  const keys = ENTRA_KEYS_PATH.exec(path);
  if (keys && ctx.method === 'GET') {
    ctx.req.resume();
    // Entra answers an unknown tenant with AADSTS90002; the emulator knows only its own.
    if (keys[1].toLowerCase() !== core.entra.tenantId.toLowerCase()) throw new AzureHttpError(400, 'invalid_tenant', `AADSTS90002: Tenant '${keys[1]}' not found.`);
    return ctx.send(200, core.entra.keys());
  }
  const isKeyVault = /^\/secrets(\/|$)/i.test(path);
  // Everything else on this listener is ARM: while its front door is down, nothing gets further.
  if (!isKeyVault && (await core.arm.refuse(ctx))) return;
  if (!ctx.query('api-version')) {
    ctx.req.resume();
    throw isKeyVault
      ? new AzureHttpError(400, 'BadParameter', 'The request URI must include the api-version query parameter.')
      : new AzureHttpError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  }
  const token = /^Bearer\s+\S+/i.test(ctx.header('authorization') ?? '');
  if (!token) {
    ctx.req.resume();
    if (isKeyVault) {
      throw new AzureHttpError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', {
        'WWW-Authenticate': `Bearer authorization="https://login.microsoftonline.com/${core.state.tenantId}", resource="https://vault.azure.net"`,
      });
    }
    throw new AzureHttpError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {
      'WWW-Authenticate': 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
    });
  }
  const routes = isKeyVault ? keyVault : arm;
  let pathMatched = false;
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== ctx.method) continue;
    if (route.action) {
      try {
        authorize(core, route.action, path);
      } catch (error) {
        ctx.req.resume();
        throw error;
      }
    }
    return route.handler(ctx, match);
  }
  ctx.req.resume();
  if (pathMatched) throw new AzureHttpError(405, 'MethodNotAllowed', `The emulator does not support ${ctx.method} on ${path}.`);
  throw new AzureHttpError(404, isKeyVault ? 'NotFound' : 'InvalidResourceType', `The emulator serves no resource at ${path}.`);
}
