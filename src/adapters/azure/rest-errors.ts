/** Reads what ARM and Key Vault errors carry, whichever SDK generation threw them. */
export interface AzureErrorInfo {
  statusCode: number | undefined;
  code: string | undefined;
  message: string;
}

export function azureErrorInfo(error: unknown): AzureErrorInfo {
  if (typeof error !== 'object' || error === null) return { statusCode: undefined, code: undefined, message: String(error) };
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown; details?: { error?: { code?: unknown } } };
  const statusCode = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const code = typeof e.code === 'string' ? e.code : typeof e.details?.error?.code === 'string' ? e.details.error.code : undefined;
  return { statusCode, code, message: typeof e.message === 'string' ? e.message : String(error) };
}

/**
 * 409 "Run command extension execution is in progress. Please wait for completion before
 * invoking a run command." — one Run Command at a time per VM; the answer is to wait and retry.
 * Other 409s (e.g. OperationNotAllowed on a stopped VM) are not worth retrying.
 */
export function isRunCommandBusy(error: unknown): boolean {
  const info = azureErrorInfo(error);
  return info.statusCode === 409 && /execution is in progress/i.test(info.message);
}

/** 412: our If-Match etag is stale — someone changed the resource since we read it. */
export function isPreconditionFailed(error: unknown): boolean {
  return azureErrorInfo(error).statusCode === 412;
}

/** 409 on a network resource: another operation on it is still running (AnotherOperationInProgress and friends). */
export function isConflict(error: unknown): boolean {
  return azureErrorInfo(error).statusCode === 409;
}

export function isNotFound(error: unknown): boolean {
  return azureErrorInfo(error).statusCode === 404;
}
