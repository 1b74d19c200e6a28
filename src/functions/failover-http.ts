import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { clusterConfig, nodeConfig } from '../app/services';
import { newOperationId, startOperation } from '../app/operations';
import type { FailoverRequest } from '../domain/failover';
import { invalidBody, readJsonBody } from '../http/problem';
import { handleErrors, startedResponse } from '../http/common';

const FailoverBody = z.strictObject({
  target: z.string('target must be the name of a standby node').min(1, 'target must be the name of a standby node').optional(),
  acceptDataLoss: z.boolean('acceptDataLoss must be true or false').optional(),
  reason: z.string('reason must be text').min(1, 'reason must not be empty').max(500, 'reason must be at most 500 characters').optional(),
});

/**
 * POST /api/clusters/{cluster}/failover {"target"?, "acceptDataLoss"?, "reason"?} — a manual
 * unplanned failover: fence the primary, promote the best standby (or the target) within the loss
 * bound (docs/invariants.md S7) unless acceptDataLoss. 202 with the operation id; 409 while another
 * operation runs.
 */
export async function failoverHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = FailoverBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, 'target, acceptDataLoss, reason');
    const { target, acceptDataLoss, reason } = parsed.data;
    if (target) nodeConfig(cluster, target);

    const operationId = newOperationId(cluster.name, 'failover');
    const failover: FailoverRequest = {
      reason: reason ?? 'manual failover requested through the API',
      ...(target ? { target } : {}),
      ...(acceptDataLoss ? { acceptDataLoss } : {}),
    };
    const started = await startOperation(client, { operationId, kind: 'failover', cluster, request: failover, requestedBy: 'http' });
    return startedResponse(request, cluster.name, started);
  }, context);
}

df.app.client.http('startFailover', { route: 'clusters/{cluster}/failover', methods: ['POST'], authLevel: 'function', handler: failoverHandler });
