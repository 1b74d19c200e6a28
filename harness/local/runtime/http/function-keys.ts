import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Function keys as the Functions host checks them: a key arrives in the `x-functions-key` header or
 * the `code` query parameter. authLevel "function" accepts a function/host key or the master key,
 * "admin" only the master key, "anonymous" none. System endpoints (/runtime/webhooks/...) take the
 * extension's system key or the master key. (func start locally skips key checks; the local runtime
 * enforces them, like Azure.)
 */
export interface FunctionKeys {
  functionKey: string;
  masterKey: string;
  systemKey: string;
}

export const generateKey = (): string => randomBytes(30).toString('base64url');

export function createFunctionKeys(init: Partial<FunctionKeys> = {}): FunctionKeys {
  return {
    functionKey: init.functionKey ?? generateKey(),
    masterKey: init.masterKey ?? generateKey(),
    systemKey: init.systemKey ?? generateKey(),
  };
}

export function presentedKey(headers: Record<string, string | undefined>, query: URLSearchParams): string | undefined {
  return headers['x-functions-key'] ?? query.get('code') ?? undefined;
}

export function isAuthorized(level: string, presented: string | undefined, keys: FunctionKeys): boolean {
  switch (level.toLowerCase()) {
    case 'anonymous':
      return true;
    case 'admin':
      return same(presented, keys.masterKey);
    case 'system':
      return same(presented, keys.systemKey) || same(presented, keys.masterKey);
    default:
      return same(presented, keys.functionKey) || same(presented, keys.masterKey);
  }
}

function same(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
