import type { NetworkManagementClientOptionalParams } from '@azure/arm-network';

/** core-rest-pipeline's PipelinePolicy, named through a direct dependency. */
export type PipelinePolicy = NonNullable<NetworkManagementClientOptionalParams['additionalPolicies']>[number]['policy'];

/**
 * Optimistic concurrency for network resources. The SDK's per-call `customHeaders` are also sent
 * on every poll and on the final GET of a long-running PUT, where an If-Match with the now-old
 * etag is wrong (a server honouring it on GET would answer 412). So callers pass the etag in
 * this private header and the policy turns it into If-Match on writes only, dropping it
 * everywhere else.
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
export function ifMatch(etag: string | undefined): { requestOptions?: { customHeaders: Record<string, string> } } {
  return etag ? { requestOptions: { customHeaders: { [IF_MATCH_CARRIER_HEADER]: etag } } } : {};
}
