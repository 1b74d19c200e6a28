import { managementUrls, type WebhookSettings } from './client-binding';
import type { EntityScheduler } from './entity-scheduler';
import { InvalidInstanceIdError, UnknownOrchestratorError } from './errors';
import type { RuntimeStatus } from './instance-state';
import type { InstanceFilter, OrchestrationEngine } from './orchestration-engine';
import { PayloadTooLargeError, payloadTooLarge } from './payload-limit';
import { statusPayload } from './status-payload';

/**
 * The Durable Task extension's HTTP API (HttpApiHandler.HandleRequestAsync), served both on the
 * loopback RPC base URL that durable-functions' DurableClient calls and under
 * /runtime/webhooks/durabletask (the URLs in check-status responses). Routes, status codes and
 * error bodies follow the extension: unknown instance -> 404 with no body, operation on a finished
 * instance -> 410, unknown orchestrator -> 400, start with the id of a running instance -> 500
 * carrying OrchestrationAlreadyExistsException. Entities: GET entities/<name>/<key> answers the state
 * (404 while the entity does not exist), POST …?op=<operation> signals it (202). Rewind, restart,
 * suspend/resume and entity listing answer 501 (not implemented locally).
 */
export interface ApiRequest {
  method: string;
  /** Path below the API base, e.g. "instances/abc/raiseEvent/go" (still URL-encoded). */
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  body: string;
  /** Origin and full URL of the request, for Location headers and management links. */
  origin: string;
  url: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

export interface ApiContext {
  engine: OrchestrationEngine;
  entities: EntityScheduler;
  webhook(origin: string): WebhookSettings;
  /** The backend's payload limit for start inputs and raised events (payload-limit.ts); none when undefined. */
  maxPayloadBytes?: number;
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  body: JSON.stringify(value),
});
const empty = (status: number): ApiResponse => ({ status, headers: {} });
const errorResponse = (status: number, message: string, error?: Error): ApiResponse =>
  json(status, error ? { Message: message, ExceptionMessage: error.message, ExceptionType: error.name, StackTrace: null } : { Message: message });
/** Plain text, so the SDK's `new Error(response.data || ...)` carries a readable message. */
const notImplemented = (message: string): ApiResponse => ({ status: 501, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: message });

export async function handleDurableApi(context: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  try {
    return await route(context, request);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (e instanceof UnknownOrchestratorError || e instanceof InvalidInstanceIdError) {
      return errorResponse(400, 'One or more of the arguments submitted is incorrect', e);
    }
    return errorResponse(500, 'Something went wrong while processing your request', e);
  }
}

async function route(context: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const segments = request.path.split('/').filter((s) => s !== '').map(decodeURIComponent);
  const [controller, first, second, third] = segments;
  const method = request.method.toUpperCase();
  if (controller === 'orchestrators' && first && segments.length <= 3) {
    return method === 'POST' ? startOrchestration(context, request, first, second) : empty(404);
  }
  if (controller === 'entities') {
    if (first === undefined || second === undefined || segments.length > 3) return notImplemented('Listing entities is not supported by the local runtime.');
    return entityRequest(context, request, { name: first, key: second });
  }
  if (controller !== 'instances' || segments.length > 4) return empty(404);
  if (first === undefined) {
    if (method === 'GET') return listInstances(context, request);
    if (method === 'DELETE') return purgeWhere(context, request.query);
    return empty(404);
  }
  if (second === undefined) {
    if (method === 'GET') return getStatus(context, request, first);
    if (method === 'DELETE') return context.engine.purge(first) ? json(200, { instancesDeleted: 1 }) : empty(404);
    return empty(404);
  }
  if (method !== 'POST') return empty(404);
  if (second === 'raiseEvent' && third !== undefined) return raiseEvent(context, request, first, third);
  if (third !== undefined) return empty(404);
  switch (second.toLowerCase()) {
    case 'terminate':
      return operationResult(context.engine.terminate(first, request.query.get('reason')));
    case 'rewind':
    case 'restart':
    case 'suspend':
    case 'resume': {
      const state = context.engine.get(first);
      if (!state) return empty(404);
      if (['Completed', 'Terminated', 'Canceled'].includes(state.runtimeStatus)) return empty(410);
      return notImplemented(`The ${second} operation is not supported by the local runtime.`);
    }
    default:
      return empty(404);
  }
}

/** A request body as the host keeps it: normalised JSON text, or null when empty. */
function jsonInput(request: ApiRequest): { input: string | null } | { error: ApiResponse } {
  if (request.body.trim() === '') return { input: null };
  try {
    return { input: JSON.stringify(JSON.parse(request.body)) };
  } catch (error) {
    return { error: errorResponse(400, 'Invalid JSON content', error as Error) };
  }
}

async function startOrchestration(context: ApiContext, request: ApiRequest, name: string, instanceId: string | undefined): Promise<ApiResponse> {
  const parsed = jsonInput(request);
  if ('error' in parsed) return parsed.error;
  const input = parsed.input;
  const tooLarge = payloadTooLarge(input, `input of orchestration '${name}'`, context.maxPayloadBytes);
  if (tooLarge) throw new PayloadTooLargeError(tooLarge);
  const id = await context.engine.startNew(name, instanceId, input);
  const timeoutSeconds = Number(request.query.get('timeout'));
  const intervalSeconds = Number(request.query.get('pollingInterval'));
  if (request.query.has('timeout') && request.query.has('pollingInterval') && timeoutSeconds > 0 && intervalSeconds >= 0) {
    const state = await context.engine.waitFor(id, { timeoutMs: timeoutSeconds * 1000 }).catch(() => undefined);
    if (state?.runtimeStatus === 'Completed') return json(200, statusPayload(state).output);
    if (state) return getStatus(context, request, id);
  }
  return checkStatusResponse(context, request.origin, id);
}

/** HttpApiHandler.CreateCheckStatusResponseMessage. */
function checkStatusResponse(context: ApiContext, origin: string, instanceId: string): ApiResponse {
  const links = managementUrls(context.webhook(origin), instanceId);
  return json(
    202,
    {
      id: instanceId,
      statusQueryGetUri: links.statusQueryGetUri,
      sendEventPostUri: links.sendEventPostUri,
      terminatePostUri: links.terminatePostUri,
      purgeHistoryDeleteUri: links.purgeHistoryDeleteUri,
      restartPostUri: links.restartPostUri,
      suspendPostUri: links.suspendPostUri,
      resumePostUri: links.resumePostUri,
    },
    { location: links.statusQueryGetUri, 'retry-after': '10' },
  );
}

function getStatus(context: ApiContext, request: ApiRequest, instanceId: string): ApiResponse {
  const state = context.engine.get(instanceId);
  if (!state) return empty(404);
  const payload = statusPayload(state, {
    showHistory: flag(request.query, 'showHistory') ?? false,
    showHistoryOutput: flag(request.query, 'showHistoryOutput') ?? false,
    showInput: flag(request.query, 'showInput') ?? true,
  });
  switch (state.runtimeStatus) {
    case 'Running':
    case 'Pending':
    case 'ContinuedAsNew':
    case 'Suspended':
      return json(202, payload, { location: request.url, 'retry-after': '5' });
    case 'Failed':
      return json(flag(request.query, 'returnInternalServerErrorOnFailure') ? 500 : 200, payload);
    default:
      return json(200, payload);
  }
}

/** HttpApiHandler.HandleGetEntityRequestAsync / HandlePostEntityOperationRequestAsync. */
function entityRequest(context: ApiContext, request: ApiRequest, entity: { name: string; key: string }): ApiResponse {
  const method = request.method.toUpperCase();
  if (method === 'GET') {
    const found = context.entities.read(entity);
    return found ? { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: found.state ?? 'null' } : empty(404);
  }
  if (method !== 'POST') return empty(404);
  if (!context.entities.functionFor(entity.name)) return errorResponse(404, `No entity function named '${entity.name}' was found.`);
  const parsed = jsonInput(request);
  if ('error' in parsed) return parsed.error;
  context.entities.signal(entity, request.query.get('op') ?? '', parsed.input);
  return empty(202);
}

function raiseEvent(context: ApiContext, request: ApiRequest, instanceId: string, eventName: string): ApiResponse {
  const state = context.engine.get(instanceId);
  if (!state) return empty(404);
  if (['Failed', 'Canceled', 'Terminated', 'Completed'].includes(state.runtimeStatus)) return empty(410);
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') return errorResponse(400, 'Only application/json request content is supported');
  const parsed = jsonInput(request);
  if ('error' in parsed) return parsed.error;
  const input = parsed.input;
  const tooLarge = payloadTooLarge(input, `event '${eventName}'`, context.maxPayloadBytes);
  if (tooLarge) throw new PayloadTooLargeError(tooLarge);
  return operationResult(context.engine.raiseEvent(instanceId, eventName, input));
}

function operationResult(result: 'accepted' | 'notFound' | 'gone'): ApiResponse {
  return empty(result === 'accepted' ? 202 : result === 'gone' ? 410 : 404);
}

/**
 * HttpApiHandler.HandleGetStatusRequestAsync (Azure/azure-functions-durable-extension,
 * src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs): one page of at most `top` instances
 * (OrchestrationStatusQueryCondition.PageSize, 100 when the request gives none), continued by the
 * `x-ms-continuation-token` request header, and the token for the next page in the same response
 * header, which durable-functions' getStatusBy follows to the end. The Azure Storage provider reads
 * its Instances table, keyed by instance id, so pages come in instance id order, never by creation time.
 */
const DEFAULT_PAGE_SIZE = 100;

function listInstances(context: ApiContext, request: ApiRequest): ApiResponse {
  const top = Number(request.query.get('top'));
  const pageSize = Number.isInteger(top) && top > 0 ? top : DEFAULT_PAGE_SIZE;
  const token = request.headers['x-ms-continuation-token'];
  const after = token ? Buffer.from(token, 'base64url').toString('utf8') : undefined;
  const remaining = context.engine
    .list(filterFrom(request.query))
    .filter((s) => after === undefined || s.instanceId > after)
    .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  const page = remaining.slice(0, pageSize);
  const last = page.at(-1);
  const next: Record<string, string> = remaining.length > pageSize && last ? { 'x-ms-continuation-token': Buffer.from(last.instanceId).toString('base64url') } : {};
  return json(200, page.map((s) => statusPayload(s, { showInput: flag(request.query, 'showInput') ?? true })), next);
}

function purgeWhere(context: ApiContext, query: URLSearchParams): ApiResponse {
  const from = dateParam(query, 'createdTimeFrom');
  if (!from) return json(400, "Please provide value for 'createdTimeFrom' parameter.");
  const filter: InstanceFilter = { ...filterFrom(query), createdTimeFrom: from, createdTimeTo: dateParam(query, 'createdTimeTo') ?? new Date() };
  const victims = context.engine.list(filter);
  for (const state of victims) context.engine.purge(state.instanceId);
  return victims.length === 0 ? empty(404) : json(200, { instancesDeleted: victims.length });
}

function filterFrom(query: URLSearchParams): InstanceFilter {
  const statuses = query
    .getAll('runtimeStatus')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '') as RuntimeStatus[];
  return {
    createdTimeFrom: dateParam(query, 'createdTimeFrom'),
    createdTimeTo: dateParam(query, 'createdTimeTo'),
    runtimeStatus: statuses.length > 0 ? statuses : undefined,
    instanceIdPrefix: query.get('instanceIdPrefix') ?? undefined,
  };
}

function dateParam(query: URLSearchParams, name: string): Date | undefined {
  const value = query.get(name);
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** bool.TryParse: only "true"/"false" (any case) count. */
function flag(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name)?.toLowerCase();
  return value === 'true' ? true : value === 'false' ? false : undefined;
}
