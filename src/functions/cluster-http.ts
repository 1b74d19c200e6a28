import * as df from 'durable-functions';
import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { clusterConfig } from '../app/services';
import { inspectCluster } from '../app/inspection';
import { operationView, readOperationRecord } from '../app/operations';
import { listOperations, parseHistoryQuery } from '../app/operation-history';
import { initialHealthState } from '../domain/health';
import { summarizeHealth } from '../domain/health-summary';
import { json, problemResponse } from '../http/problem';
import { handleErrors } from '../http/common';
import { readHealthState } from './health-check-client';

/** GET /api/clusters/{cluster} — roles, WAL positions and pool membership of every node, and the health check's last verdict. */
export async function clusterTopologyHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const [view, health] = await Promise.all([inspectCluster(cluster.name), readHealthState(client, cluster.name)]);
    return json(200, { ...view, health: summarizeHealth(health ?? initialHealthState(cluster.name)) });
  }, context);
}

/** GET /api/clusters/{cluster}/operations?pageSize=&cursor= — the cluster's operations, newest first, a page at a time. */
export async function operationListHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    return json(200, await listOperations(client, cluster.name, parseHistoryQuery(request.query)));
  }, context);
}

/** GET /api/clusters/{cluster}/operations/{operationId} — live progress, then the final timeline. */
export async function operationStatusHandler(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const cluster = clusterConfig(request.params.cluster);
    const record = await readOperationRecord(client, cluster.name, request.params.operationId);
    if (!record) return problemResponse({ status: 404, title: 'Not found', detail: `cluster ${cluster.name} has no operation ${request.params.operationId}` });
    return json(200, operationView(record));
  }, context);
}

df.app.client.http('getClusterTopology', { route: 'clusters/{cluster}', methods: ['GET'], authLevel: 'function', handler: clusterTopologyHandler });
df.app.client.http('listOperations', { route: 'clusters/{cluster}/operations', methods: ['GET'], authLevel: 'function', handler: operationListHandler });
df.app.client.http('getOperationStatus', { route: 'clusters/{cluster}/operations/{operationId}', methods: ['GET'], authLevel: 'function', handler: operationStatusHandler });
