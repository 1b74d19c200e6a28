import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { clusterConfig } from '../app/services';
import { initialHealthState } from '../domain/health';
import { json } from '../http/problem';
import { handleErrors } from '../http/common';
import { readHealthState } from './health-check-client';

/** GET /api/clusters/{cluster}/health — the health check's durable state: last check and verdict, failures, last known primary, maintenance, pending rejoins. */
export async function clusterHealthHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    return json(200, (await readHealthState(client, cluster.name)) ?? initialHealthState(cluster.name));
  }, context);
}

df.app.client.http('getClusterHealth', { route: 'clusters/{cluster}/health', methods: ['GET'], authLevel: 'function', handler: clusterHealthHandler });
