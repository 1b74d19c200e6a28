import { registerClientActivity } from './durable-client-activity';
import { clusterConfig } from '../src/app/services';
import { newOperationId, startOperation } from '../src/app/operations';
import type { FailoverRequest } from '../src/domain/failover';

/**
 * The health check's automatic failover, started like every other operation: it runs only if it
 * owns the cluster (docs/invariants.md S5); if one already runs, that one is reported
 * instead.
 */
registerClientActivity('startAutomaticFailover', async ({ cluster, reason, requestedBy, unreachablePrimary }, client) => {
  const config = clusterConfig(cluster);
  const operationId = newOperationId(cluster, 'failover');
  const request: FailoverRequest = { reason, requireDeadPrimary: true, ...(unreachablePrimary ? { unreachablePrimary } : {}) };
  const started = await startOperation(client, { operationId, kind: 'failover', cluster: config, request, requestedBy });
  return started.started ? { started: true, operationId, kind: 'failover' } : { started: false, ...started.running };
});
