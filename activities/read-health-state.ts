import { registerClientActivity } from './durable-client-activity';
import { owningOperation, readHealthState } from '../src/functions/health-check-client';

/** The health check's durable state (last known primary and LSN, maintenance) and the operation running, if any. */
registerClientActivity('readHealthState', async ({ cluster }, client) => {
  const [state, operation] = await Promise.all([readHealthState(client, cluster), owningOperation(client, cluster)]);
  return { state: state ?? null, operation };
});
