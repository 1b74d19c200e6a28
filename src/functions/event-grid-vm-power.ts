import * as df from 'durable-functions';
import { app, InvocationContext } from '@azure/functions';
import { appConfig, clusterServices } from '../app/services';
import { inspectCluster } from '../app/inspection';
import { currentOperation, readOperation, startOperation } from '../app/operations';
import { readHealthState } from './health-check-client';
import { decideVmGone, failoverRequestFor, nodeOfVm, parseVmPowerAction, powerActionOperationId } from '../domain/scheduled-events-power-actions';

/** What one delivered event led to (also the function's return value and its structured log line). */
export type VmPowerEventOutcome = {
  component: 'vm-power-events';
  eventId?: string;
  outcome: 'not-relevant' | 'unknown-vm' | 'already-handled' | 'ignored' | 'maintenance-mode' | 'failover-started' | 'failover-not-started' | 'removed-from-pools';
  detail: string;
  vm?: string;
  cluster?: string;
  node?: string;
  operationId?: string;
};

/**
 * A VM of a cluster was powered off, deallocated or restarted through ARM (Event Grid
 * `Microsoft.Resources.ResourceActionSuccess`). It is already down, so nothing can be drained:
 * a primary that went away is failed over (kind 'failover', single flight: docs/invariants.md S5); a
 * standby leaves the read pool. Putting it back once it streams again is the health check's job
 * (its read-pool action). In maintenance mode (automatic actions paused) it does not fail over.
 * A failure (e.g. the cluster cannot be inspected) is thrown, so Event Grid delivers the event again.
 */
export async function handleVmPowerEvent(event: unknown, client: df.DurableClient): Promise<VmPowerEventOutcome> {
  const eventId = typeof (event as { id?: unknown } | null)?.id === 'string' ? (event as { id: string }).id : undefined;
  const base = { component: 'vm-power-events' as const, ...(eventId ? { eventId } : {}) };
  const parsed = parseVmPowerAction(event);
  if (!parsed.relevant) return { ...base, outcome: 'not-relevant', detail: parsed.why };
  const { action } = parsed;
  const found = nodeOfVm(appConfig().clusters, action.vmResourceId);
  if (!found) return { ...base, outcome: 'unknown-vm', vm: action.vmResourceId, detail: `VM ${action.vmName} ${action.what}, but it is no node of any configured cluster: ignored` };
  const { cluster, node } = found;
  const where = { ...base, vm: action.vmResourceId, cluster: cluster.name, node };

  const operationId = powerActionOperationId(cluster.name, action.eventId);
  if (await readOperation(client, cluster.name, operationId)) {
    return { ...where, outcome: 'already-handled', operationId, detail: `event ${action.eventId} was delivered before and started ${operationId}` };
  }
  const running = await currentOperation(client, cluster.name);
  const decision = decideVmGone(await inspectCluster(cluster.name), node, running);
  switch (decision.action) {
    case 'ignore':
      return { ...where, outcome: 'ignored', detail: `VM ${action.vmName} ${action.what}: ${decision.why}`, ...(running ? { operationId: running.operationId } : {}) };
    case 'remove-from-pools': {
      const services = clusterServices(cluster.name);
      const { changed } = await services.loadBalancer.setRole(services.node(node), 'none');
      return { ...where, outcome: 'removed-from-pools', detail: `VM ${action.vmName} ${action.what}: ${decision.why}; ${changed ? 'taken out of' : 'already out of'} the load balancer pools` };
    }
    case 'failover': {
      // The operator paused automatic actions (POST .../maintenance): a power-off may be part of their work.
      const health = await readHealthState(client, cluster.name);
      if (health?.maintenance.enabled) {
        return { ...where, outcome: 'maintenance-mode', detail: `VM ${action.vmName} ${action.what}: ${decision.why}, but maintenance mode is on (${health.maintenance.reason ?? 'no reason given'}): no automatic failover` };
      }
      const started = await startOperation(client, { operationId, kind: 'failover', cluster, request: failoverRequestFor(action), requestedBy: `event grid ${action.eventId} (${action.operationName})` });
      if (started.started) return { ...where, outcome: 'failover-started', operationId, detail: `VM ${action.vmName} ${action.what}: ${decision.why}` };
      return {
        ...where,
        outcome: 'failover-not-started',
        operationId: started.running.operationId,
        detail: `VM ${action.vmName} ${action.what}: ${decision.why}, but ${started.running.kind} ${started.running.operationId} is already running (single flight)`,
      };
    }
  }
}

app.eventGrid<unknown>('vmPowerEvents', {
  extraInputs: [df.input.durableClient()],
  handler: async (event: unknown, context: InvocationContext) => {
    const outcome = await handleVmPowerEvent(event, df.getClient(context));
    if (outcome.outcome === 'unknown-vm' || outcome.outcome === 'not-relevant') context.log(JSON.stringify(outcome));
    else context.warn(JSON.stringify(outcome));
    return outcome;
  },
});
