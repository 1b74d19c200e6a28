import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Lab } from '../../harness/lab/lab';
import { LocalStack, LocalStackOptions, startLocalStack } from '../../harness/local/stack';
import { testLabOptions } from './lab';

export const TEST_FUNCTION_KEY = 'test-function-key';

/** Lab + local Azure + local runtime for one test file, listening on the lab's own address. */
export async function startTestStack(block: string, options: Partial<LocalStackOptions> = {}): Promise<LocalStack> {
  const lab = testLabOptions(block);
  const starting = startLocalStack({
    stateDir: mkdtempSync(join(tmpdir(), 'pgfo-stack-')),
    lab,
    listen: { host: `127.${block}.1`, port: 7071 },
    functionKey: TEST_FUNCTION_KEY,
    policy: { catchupTimeoutSeconds: 30, fenceByPowerOff: false },
    log: () => undefined,
    ...options,
  });
  // A stack that failed half-way must not leave its lab holding the block's addresses.
  return starting.catch(async (error) => {
    await Lab.down(lab);
    throw error;
  });
}

/** Calls the app's HTTP API with the function key (or without it, to test the refusal). */
export async function api(stack: LocalStack, method: 'GET' | 'POST', path: string, body?: unknown, key: string | null = TEST_FUNCTION_KEY): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.origin}/api/${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { 'x-functions-key': key } : {}) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}
