import * as df from 'durable-functions';
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { clusterConfig, nodeConfig } from '../app/services';
import { inspectCluster } from '../app/inspection';
import { newOperationId, startOperation } from '../app/operations';
import { heldNodes } from '../domain/maintenance-hold';
import { planSwitchover } from '../domain/switchover-plan';
import { readHealthState } from './health-check-client';
import { SwitchoverInput } from '../../orchestrations/switchover';
import { invalidBody, json, problemResponse, readJsonBody } from '../http/problem';
import { handleErrors, startedResponse } from '../http/common';

const SwitchoverBody = z.strictObject({
  target: z.string('target must be the name of a standby node').min(1, 'target must be the name of a standby node').optional(),
  dryRun: z.boolean('dryRun must be true or false').optional(),
  maxLagBytes: z.int('maxLagBytes must be a whole number of bytes').nonnegative('maxLagBytes must be 0 or more').optional(),
  timeoutSeconds: z.int('timeoutSeconds must be a whole number of seconds').min(1, 'timeoutSeconds must be 1-3600').max(3600, 'timeoutSeconds must be 1-3600').optional(),
});

/** POST /api/clusters/{cluster}/switchover — a planned switchover (or, with dryRun, its plan). */
export async function switchoverHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = SwitchoverBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, 'target, dryRun, maxLagBytes, timeoutSeconds');
    const { dryRun, ...switchover } = parsed.data;
    if (switchover.target) nodeConfig(cluster, switchover.target);

    if (dryRun) {
      const [view, health] = await Promise.all([inspectCluster(cluster.name), readHealthState(client, cluster.name)]);
      const outcome = planSwitchover(cluster, view, switchover, heldNodes(health?.maintenanceHolds));
      if (!outcome.ok) return problemResponse({ status: 409, title: 'Switchover not possible now', detail: outcome.refusal.reason, code: outcome.refusal.code });
      return json(200, { dryRun: true, plan: outcome.plan });
    }

    const operationId = newOperationId(cluster.name, 'switchover');
    const input: SwitchoverInput = switchover;
    const started = await startOperation(client, { operationId, kind: 'switchover', cluster, request: input, requestedBy: 'http' });
    return startedResponse(request, cluster.name, started);
  }, context);
}

df.app.client.http('startSwitchover', {
  route: 'clusters/{cluster}/switchover',
  methods: ['POST'],
  authLevel: 'function',
  handler: switchoverHandler,
});
