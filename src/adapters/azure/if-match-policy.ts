import type { NetworkManagementClientOptionalParams } from '@azure/arm-network';

/** core-rest-pipeline's PipelinePolicy, named through a direct dependency. */
export type PipelinePolicy = NonNullable<NetworkManagementClientOptionalParams['additionalPolicies']>[number]['policy'];

/**
 * Optimistic concurrency for network resources. An If-Match with the etag we read belongs on the
 * write only: on a poll or on the final GET of a long-running PUT the etag is already old (a
 * server honouring it there would answer 412). The classic SDK (arm-network up to 36) repeated
 * per-call custom headers on every poll; the TypeSpec client (37+) sends `requestOptions.headers`
 * with the initial request only, but that is its implementation, not a documented promise. So
 * callers pass the etag in this private header and the policy turns it into If-Match on writes
 * only, dropping it everywhere else.
 */
export const IF_MATCH_CARRIER_HEADER = 'x-pgfo-if-match';

const WRITE_METHODS = new Set(['PUT', 'PATCH', 'DELETE']);

export function ifMatchOnWritesPolicy(): PipelinePolicy {
  return {
    name: 'pgfoIfMatchOnWrites',
    sendRequest(request, next) {
      const etag = request.headers.get(IF_MATCH_CARRIER_HEADER);
      if (etag !== undefined) {
        request.headers.delete(IF_MATCH_CARRIER_HEADER);
        if (WRITE_METHODS.has(request.method.toUpperCase())) request.headers.set('If-Match', etag);
      }
      return next(request);
    },
  };
}

/** The per-call options that make one write conditional on `etag`. */
export function ifMatch(etag: string | undefined): { requestOptions?: { headers: Record<string, string> } } {
  return etag ? { requestOptions: { headers: { [IF_MATCH_CARRIER_HEADER]: etag } } } : {};
}
