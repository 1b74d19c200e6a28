import * as df from 'durable-functions';
import { randomUUID } from 'node:crypto';
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { locateNode, nodeAuthentication } from '../app/services';
import { authenticateNode } from '../app/node-auth';
import { invalidBody, readJsonBody } from '../http/problem';
import { handleErrors } from '../http/common';
import { answerMaintenance } from './scheduled-events-http';

const ShutdownBody = z.strictObject({
  /** Stable across one hook run's polls (the hook sends boot id + start time): repeated calls join one switchover. */
  requestId: z
    .string('requestId must be text')
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'requestId must be 1-128 letters, digits, ".", "_", ":" or "-"')
    .optional(),
  reason: z.string('reason must be text').max(200, 'reason must be at most 200 characters').optional(),
});

/**
 * POST /api/clusters/{cluster}/nodes/{node}/shutdown — the node's guest OS is shutting down (its
 * shutdown hook runs before PostgreSQL stops). Same answers as the scheduled-events endpoint:
 * 202 while a switchover away from it runs, then 200 approve (no longer the primary) or wait.
 */
export async function shutdownHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const { cluster, node } = await authenticateNode(request.headers.get('authorization'), () => locateNode(request), nodeAuthentication());
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = ShutdownBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, 'requestId, reason');
    // Without a request id every call is its own request; a running switchover is still joined.
    const requestId = parsed.data.requestId ?? randomUUID();
    return answerMaintenance(request, client, context, { cluster, node: node.name, trigger: { kind: 'shutdown', requestId } });
  }, context);
}

df.app.client.http('nodeShutdown', {
  route: 'clusters/{cluster}/nodes/{node}/shutdown',
  methods: ['POST'],
  // Only the node's own VM, by its managed identity token (src/app/node-auth.ts): no function key
  // opens these routes, so a VM holds nothing that reaches an operator route or another node.
  authLevel: 'anonymous',
  handler: shutdownHandler,
});
