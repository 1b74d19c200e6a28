import { z } from 'zod';
import { ConfigError } from '../../domain/errors';

/**
 * How the app reaches Azure. Production and local mode differ only in these values: local mode
 * points ARM_ENDPOINT and KEY_VAULT_URL at the local Azure emulator and trusts its CA.
 */
export interface AzureSettings {
  /** ARM_ENDPOINT; default https://management.azure.com. */
  armEndpoint: string;
  /** KEY_VAULT_URL, e.g. https://my-vault.vault.azure.net. */
  keyVaultUrl: string | undefined;
  /** AZURE_CLIENT_ID: the user-assigned managed identity to use (system-assigned when unset). */
  managedIdentityClientId: string | undefined;
  /** PG_FAILOVER_LOCAL_CA_FILE: set only in local mode; the emulator's CA certificate (PEM). */
  localCaFile: string | undefined;
  /** PG_FAILOVER_AZURE_POLL_INTERVAL_MS: how often long-running operations are polled when Azure sends no Retry-After. */
  pollIntervalMs: number;
  /** PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS: how long one ARM request may take, the SDK's retries included (request-timeout.ts). */
  armRequestTimeoutMs: number;
  /** NODE_AUTH_AUDIENCE: the audience of the VM identity tokens the node routes accept (an Entra application ID URI or application id). */
  nodeAuthAudience: string | undefined;
  /** NODE_AUTH_TENANT_ID: the Entra tenant that issues those tokens. */
  nodeAuthTenantId: string | undefined;
  /** AZURE_AUTHORITY_HOST: where Entra's signing keys are read; default https://login.microsoftonline.com. */
  authorityHost: string;
}

export const AZURE_SETTING_NAMES = {
  armEndpoint: 'ARM_ENDPOINT',
  keyVaultUrl: 'KEY_VAULT_URL',
  managedIdentityClientId: 'AZURE_CLIENT_ID',
  localCaFile: 'PG_FAILOVER_LOCAL_CA_FILE',
  pollIntervalMs: 'PG_FAILOVER_AZURE_POLL_INTERVAL_MS',
  armRequestTimeoutMs: 'PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS',
  nodeAuthAudience: 'NODE_AUTH_AUDIENCE',
  nodeAuthTenantId: 'NODE_AUTH_TENANT_ID',
  authorityHost: 'AZURE_AUTHORITY_HOST',
} as const;

export const DEFAULT_ARM_ENDPOINT = 'https://management.azure.com';
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
/**
 * ARM gives a resource provider 60 s before it answers 504 itself (Azure/azure-resource-manager-rpc
 * v1.0/common-api-details.md, "Client Request Timeout"); long work runs as an asynchronous
 * operation, polled with short requests. Twice that covers one such wait plus the SDK's 3 retries
 * of a quick 5xx (each after Retry-After, or at most 1, 2, 4 s), and stays far inside an
 * activity's functionTimeout (10 min).
 */
export const DEFAULT_ARM_REQUEST_TIMEOUT_MS = 120_000;

const httpsUrl = (setting: string) =>
  z
    .string()
    .refine((value) => URL.canParse(value) && new URL(value).protocol === 'https:', `${setting} must be an https:// URL (the Azure SDKs send tokens over HTTPS only)`)
    .transform((value) => value.replace(/\/+$/, ''));

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() ? value.trim() : undefined));

/** A whole number of milliseconds, 1 to `max`. */
const milliseconds = (setting: string, max: number) =>
  optionalText.pipe(
    z
      .string()
      .regex(new RegExp(`^\\d{1,${String(max).length}}$`), `${setting} must be a whole number of milliseconds (1-${max})`)
      .transform(Number)
      .refine((ms) => ms >= 1 && ms <= max, `${setting} must be 1-${max} milliseconds`)
      .optional(),
  );

const SettingsSchema = z
  .object({
    [AZURE_SETTING_NAMES.armEndpoint]: optionalText.pipe(httpsUrl(AZURE_SETTING_NAMES.armEndpoint).optional()),
    [AZURE_SETTING_NAMES.keyVaultUrl]: optionalText.pipe(httpsUrl(AZURE_SETTING_NAMES.keyVaultUrl).optional()),
    [AZURE_SETTING_NAMES.managedIdentityClientId]: optionalText,
    [AZURE_SETTING_NAMES.localCaFile]: optionalText.pipe(z.string().startsWith('/', `${AZURE_SETTING_NAMES.localCaFile} must be an absolute path`).optional()),
    [AZURE_SETTING_NAMES.pollIntervalMs]: milliseconds(AZURE_SETTING_NAMES.pollIntervalMs, 60_000),
    [AZURE_SETTING_NAMES.armRequestTimeoutMs]: milliseconds(AZURE_SETTING_NAMES.armRequestTimeoutMs, 600_000),
    [AZURE_SETTING_NAMES.nodeAuthAudience]: optionalText.pipe(
      z.string().regex(/^[^\s"']+$/, `${AZURE_SETTING_NAMES.nodeAuthAudience} must be an application ID URI (api://...) or an application id, without spaces or quotes`).optional(),
    ),
    [AZURE_SETTING_NAMES.nodeAuthTenantId]: optionalText.pipe(
      z
        .string()
        .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, `${AZURE_SETTING_NAMES.nodeAuthTenantId} must be the Entra tenant id (a GUID)`)
        .transform((id) => id.toLowerCase())
        .optional(),
    ),
    [AZURE_SETTING_NAMES.authorityHost]: optionalText.pipe(httpsUrl(AZURE_SETTING_NAMES.authorityHost).optional()),
  })
  .superRefine((env, ctx) => {
    const local = env[AZURE_SETTING_NAMES.localCaFile];
    const arm = env[AZURE_SETTING_NAMES.armEndpoint];
    if (local && (!arm || arm === DEFAULT_ARM_ENDPOINT)) {
      ctx.addIssue({
        code: 'custom',
        path: [AZURE_SETTING_NAMES.armEndpoint],
        message: `${AZURE_SETTING_NAMES.localCaFile} selects local mode, which needs ${AZURE_SETTING_NAMES.armEndpoint} pointing at the local Azure emulator, not at Azure`,
      });
    }
    const authority = env[AZURE_SETTING_NAMES.authorityHost];
    if (local && env[AZURE_SETTING_NAMES.nodeAuthAudience] && (!authority || authority === DEFAULT_AUTHORITY_HOST)) {
      ctx.addIssue({
        code: 'custom',
        path: [AZURE_SETTING_NAMES.authorityHost],
        message: `${AZURE_SETTING_NAMES.localCaFile} selects local mode, which needs ${AZURE_SETTING_NAMES.authorityHost} pointing at the local Azure emulator (it signs the VMs' identity tokens), not at Entra ID`,
      });
    }
  });

/** Reads the Azure settings from app settings / environment variables; all problems are reported at once. */
export function readAzureSettings(env: NodeJS.ProcessEnv = process.env): AzureSettings {
  const parsed = SettingsSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError('the Azure app settings', parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  }
  const values = parsed.data;
  return {
    armEndpoint: values[AZURE_SETTING_NAMES.armEndpoint] ?? DEFAULT_ARM_ENDPOINT,
    keyVaultUrl: values[AZURE_SETTING_NAMES.keyVaultUrl],
    managedIdentityClientId: values[AZURE_SETTING_NAMES.managedIdentityClientId],
    localCaFile: values[AZURE_SETTING_NAMES.localCaFile],
    pollIntervalMs: values[AZURE_SETTING_NAMES.pollIntervalMs] ?? 1000,
    armRequestTimeoutMs: values[AZURE_SETTING_NAMES.armRequestTimeoutMs] ?? DEFAULT_ARM_REQUEST_TIMEOUT_MS,
    nodeAuthAudience: values[AZURE_SETTING_NAMES.nodeAuthAudience],
    nodeAuthTenantId: values[AZURE_SETTING_NAMES.nodeAuthTenantId],
    authorityHost: values[AZURE_SETTING_NAMES.authorityHost] ?? DEFAULT_AUTHORITY_HOST,
  };
}
