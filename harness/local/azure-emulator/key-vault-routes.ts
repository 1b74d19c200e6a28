import type { EmulatorCore, Route } from './core';
import { AzureHttpError, requireObject, requireString } from './http-kit';
import { key, type SecretVersion } from './state';

const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;

/**
 * Key Vault secrets (data plane): GET /secrets/{name}[/{version}], PUT /secrets/{name}. A vault
 * with Azure RBAC holds a write to the caller's data role: Key Vault Secrets User grants
 * getSecret only, Key Vault Secrets Officer setSecret too; otherwise 403 Forbidden (inner code
 * ForbiddenByRbac) naming the action, as Key Vault answers
 * (https://learn.microsoft.com/azure/key-vault/general/rbac-guide, built-in roles).
 */
export function keyVaultRoutes(core: EmulatorCore): Route[] {
  const body = (name: string, secret: SecretVersion) => ({
    value: secret.value,
    id: `${core.endpoint()}/secrets/${name}/${secret.version}`,
    ...(secret.contentType ? { contentType: secret.contentType } : {}),
    ...(secret.tags ? { tags: secret.tags } : {}),
    attributes: { enabled: true, created: secret.created, updated: secret.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
  });
  const missing = (name: string) =>
    new AzureHttpError(404, 'SecretNotFound', `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);

  return [
    {
      method: 'GET',
      pattern: /^\/secrets\/([^/]+)(?:\/([^/]*))?\/?$/i,
      handler: async (ctx, match) => {
        const versions = core.state.secrets.get(key(match[1]));
        const secret = match[2] ? versions?.find((v) => v.version === match[2]) : versions?.[versions.length - 1];
        if (!secret) throw missing(match[2] ? `${match[1]}/${match[2]}` : match[1]);
        ctx.send(200, body(match[1], secret));
      },
    },
    {
      method: 'PUT',
      pattern: /^\/secrets\/([^/]+)\/?$/i,
      handler: async (ctx, match) => {
        if (!SECRET_NAME.test(match[1])) throw new AzureHttpError(400, 'BadParameter', `The secret name '${match[1]}' is invalid: use 1-127 letters, digits or '-'.`);
        if (core.keyVaultRole !== 'Key Vault Secrets Officer') {
          throw new AzureHttpError(
            403,
            'Forbidden',
            `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'\r\nResource: 'secrets/${match[1].toLowerCase()}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'`,
          );
        }
        const request = requireObject(await ctx.json(), 'the request body');
        const value = requireString(request.value, 'value');
        const tags = request.tags === undefined ? undefined : (requireObject(request.tags, 'tags') as Record<string, string>);
        const contentType = request.contentType === undefined ? undefined : requireString(request.contentType, 'contentType');
        ctx.send(200, body(match[1], core.state.addSecretVersion(match[1], value, contentType, tags)));
      },
    },
  ];
}
