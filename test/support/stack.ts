import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Lab } from '../../harness/lab/lab';
import { LOCAL_NODE_AUTH_AUDIENCE, LocalStack, LocalStackOptions, startLocalStack } from '../../harness/local/stack';
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

/** How a test call authenticates: a function key (operator routes), a bearer token (node routes), or nothing. */
export type Credential = string | { bearer: string } | null;

/** The managed identity token of `node`'s VM for the app, as its metadata service hands it out. */
export function vmIdentity(stack: LocalStack, node: string, audience = LOCAL_NODE_AUTH_AUDIENCE): { bearer: string } {
  const vm = stack.cluster.nodes.find((n) => n.name === node);
  if (!vm) throw new Error(`the test cluster has no node ${node}`);
  return { bearer: stack.azure.entra.managedIdentityToken(vm.vmResourceId, audience).accessToken };
}

/** Calls the app's HTTP API with the function key, another credential, or none (to test the refusal). */
export async function api(stack: LocalStack, method: 'GET' | 'POST', path: string, body?: unknown, credential: Credential = TEST_FUNCTION_KEY): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const auth: Record<string, string> = credential === null ? {} : typeof credential === 'string' ? { 'x-functions-key': credential } : { authorization: `Bearer ${credential.bearer}` };
  const response = await fetch(`${stack.origin}/api/${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...auth },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}
