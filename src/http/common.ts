import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ConfigError, FailoverError, InvalidInputError, NodeAuthenticationError } from '../domain/errors';
import { UnknownResourceError } from '../app/services';
import { json, problemResponse } from './problem';
import type { StartResult } from '../app/operations';

export function operationLinks(request: HttpRequest, cluster: string, operationId: string): { statusUrl: string } {
  const origin = new URL(request.url).origin;
  return { statusUrl: `${origin}/api/clusters/${encodeURIComponent(cluster)}/operations/${encodeURIComponent(operationId)}` };
}

/**
 * Maps typed errors to problem responses: unknown names → 404, bad input → 400, a bad app
 * configuration → 500 saying what to fix. Anything else is a 500 that tells the caller only where
 * to look: its text (hosts, SQL, Azure's answers) goes to the function's log, under the
 * invocation id the response names.
 */
export async function handleErrors(work: () => Promise<HttpResponseInit>, context: Pick<InvocationContext, 'invocationId' | 'error'>): Promise<HttpResponseInit> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ConfigError) return problemResponse({ status: 500, title: 'The app is misconfigured', detail: error.message });
    if (error instanceof NodeAuthenticationError) {
      if (error.status === 503) context.error(JSON.stringify({ event: 'http.node-authentication-unavailable', invocationId: context.invocationId, error: error.toJSON() }));
      return nodeAuthenticationProblem(error);
    }
    if (error instanceof UnknownResourceError) return problemResponse({ status: 404, title: 'Not found', detail: error.message });
    if (error instanceof InvalidInputError) return problemResponse({ status: 400, title: 'Invalid request', detail: error.message });
    context.error(JSON.stringify({ event: 'http.internal-error', invocationId: context.invocationId, error: error instanceof FailoverError ? error.toJSON() : String((error as Error)?.stack ?? error) }));
    return problemResponse({
      status: 500,
      title: 'Internal error',
      detail: `the request failed inside the app; the function's log has the details under invocation ${context.invocationId}`,
      invocationId: context.invocationId,
    });
  }
}

/** 202 with the new operation's status URL, or 409 naming the operation that is already running (docs/invariants.md S5). */
export function startedResponse(request: HttpRequest, cluster: string, started: StartResult): HttpResponseInit {
  if (!started.started) {
    return problemResponse({
      status: 409,
      title: 'An operation is already running on this cluster',
      detail: `${started.running.kind} ${started.running.operationId} is running on cluster ${cluster}; wait for it to finish`,
      operationId: started.running.operationId,
      ...operationLinks(request, cluster, started.running.operationId),
    });
  }
  const links = operationLinks(request, cluster, started.operationId);
  return { ...json(202, { operationId: started.operationId, ...links }), headers: { location: links.statusUrl } };
}

const NODE_AUTH_TITLES = { 401: 'Not authenticated as this node', 403: 'Not this node', 503: 'Cannot check the caller now' } as const;

/** 401 carries the Bearer challenge (RFC 6750), so a client knows what to send. */
function nodeAuthenticationProblem(error: NodeAuthenticationError): HttpResponseInit {
  const response = problemResponse({ status: error.status, title: NODE_AUTH_TITLES[error.status], detail: error.message });
  if (error.status !== 401) return response;
  return { ...response, headers: { ...(response.headers as Record<string, string>), 'www-authenticate': 'Bearer error="invalid_token"' } };
}
