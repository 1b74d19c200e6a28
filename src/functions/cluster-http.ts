import * as df from 'durable-functions';
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { clusterConfig } from '../app/services';
import { inspectCluster } from '../app/inspection';
import { readOperation } from '../app/operations';
import { json, problemResponse } from '../http/problem';
import { handleErrors } from '../http/common';

/** GET /api/clusters/{cluster} — roles, WAL positions, lag and pool membership of every node. */
export async function clusterTopologyHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    return json(200, await inspectCluster(cluster.name));
  }, context);
}

/** GET /api/clusters/{cluster}/operations/{operationId} — live progress, then the final timeline. */
export async function operationStatusHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const report = await readOperation(client, cluster.name, request.params.operationId);
    if (!report) return problemResponse({ status: 404, title: 'Not found', detail: `cluster ${cluster.name} has no operation ${request.params.operationId}` });
    return json(200, report);
  }, context);
}

app.http('getClusterTopology', { route: 'clusters/{cluster}', methods: ['GET'], authLevel: 'function', handler: clusterTopologyHandler });
df.app.client.http('getOperationStatus', { route: 'clusters/{cluster}/operations/{operationId}', methods: ['GET'], authLevel: 'function', handler: operationStatusHandler });
