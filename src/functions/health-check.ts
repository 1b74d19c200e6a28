import * as df from 'durable-functions';
import type { InvocationContext, Timer } from '@azure/functions';
import type { ClusterConfig } from '../config/schema';
import { appConfig, clusterServices } from '../app/services';
import { inspectCluster } from '../app/inspection';
import type { CheckRecord, HealthObservation } from '../domain/health';
import { telemetry } from '../telemetry';
import { healthCheckRecords } from '../telemetry/records';
import { owningOperation, rejoinsRunning, sendToMonitor } from './health-check-client';
import { keepWriteLease } from '../app/write-lease';
import { beginPowerStateLook } from '../app/power-state-reads';

export const HEALTH_CHECK = 'healthCheck';
export const HEALTH_CHECK_SCHEDULE_SETTING = 'HEALTH_CHECK_SCHEDULE';
/** Every 10 seconds (NCRONTAB with seconds). */
export const DEFAULT_HEALTH_CHECK_SCHEDULE = '*/5 * * * * *';

/**
 * The app setting HEALTH_CHECK_SCHEDULE when it is set (as a %...% binding expression, which the
 * host resolves), else every 5 s: the host refuses a %...% expression whose setting is missing,
 * so the expression is used only when the setting exists (app settings are the worker's
 * environment when it indexes the functions).
 */
export function healthCheckSchedule(env: NodeJS.ProcessEnv = process.env): string {
  return env[HEALTH_CHECK_SCHEDULE_SETTING]?.trim() ? `%${HEALTH_CHECK_SCHEDULE_SETTING}%` : DEFAULT_HEALTH_CHECK_SCHEDULE;
}

/**
 * One look at a cluster: every node probed in parallel with policy.health.probeTimeoutMs (an
 * unreachable node is an answer, not an error), the pools, the running operation that owns
 * the cluster, the rejoins running, and the VM power state of every node the app could not reach.
 * That power state only keeps a rejoin from being tried on a VM that is off, so it is read within
 * the look's bound and is 'unknown' past it (src/app/power-state-reads.ts): an ARM that does not
 * answer (an outage, where each request waits for PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS) must not
 * hold up the checks that detect a dead primary and renew the write lease.
 */
export async function observeCluster(client: df.DurableClient, cluster: ClusterConfig): Promise<HealthObservation> {
  const started = new Date();
  const startedAt = started.toISOString();
  const services = clusterServices(cluster.name);
  const power = beginPowerStateLook(cluster.name, cluster.policy.health.probeTimeoutMs, (node) => services.fencing.powerState(services.node(node)));
  const [view, operation, rejoining] = await Promise.all([inspectCluster(cluster.name), owningOperation(client, cluster.name), rejoinsRunning(client, cluster)]);
  // Probe mode: the lease is renewed on every look, before anything slower (an ARM power-state read).
  const lease = cluster.loadBalancer.membership === 'probe' ? await keepWriteLease(client, cluster.name, view, operation !== null, started).catch((error: Error) => ({ action: 'none' as const, why: `the write lease could not be kept: ${error.message}`, done: false })) : undefined;
  const powerStates = await power.of(view.nodes.filter((node) => !node.reachable).map((node) => node.name));
  return { startedAt, view, operation, rejoining, powerStates, ...(lease ? { lease } : {}) };
}

/**
 * The monitor's verdict reaches telemetry one run late: the state this run read holds the check of
 * the run before. Each check is counted once per process (an instance restart may count one again).
 */
const countedChecks = new Map<string, string>();
function isNewCheck(cluster: string, check: CheckRecord | null): boolean {
  if (!check || countedChecks.get(cluster) === check.at) return false;
  countedChecks.set(cluster, check.at);
  return true;
}

/**
 * The timer health check: observes every cluster in parallel and hands each observation to the
 * cluster's monitor, which records it in the durable state, decides with healthVerdict and acts.
 * A cluster that cannot be observed (Azure unreachable) does not hold up the others.
 */
export async function healthCheckHandler(_timer: Timer, client: df.DurableClient, context: InvocationContext): Promise<void> {
  const clusters = appConfig().clusters;
  const results = await Promise.allSettled(
    clusters.map(async (cluster) => {
      try {
        const observation = await observeCluster(client, cluster);
        const monitor = await sendToMonitor(client, cluster.name, { type: 'observation', observation, config: cluster });
        telemetry().send(healthCheckRecords(cluster, { view: observation.view, lastCheck: monitor.lastCheck, newCheck: isNewCheck(cluster.name, monitor.lastCheck) }));
        return observation;
      } catch (error) {
        telemetry().send(healthCheckRecords(cluster, { failed: true }));
        throw error;
      }
    }),
  );
  const failures: string[] = [];
  results.forEach((result, index) => {
    const name = clusters[index].name;
    if (result.status === 'rejected') failures.push(`${name}: ${(result.reason as Error)?.message ?? String(result.reason)}`);
    else {
      const { view, lease } = result.value;
      const leaseNote = lease ? `; lease: ${lease.action === 'none' ? lease.why : `${lease.action} ${lease.node}${lease.done ? '' : ' (not done)'}`}` : '';
      context.log(`health check ${name}: write pool [${view.pools.write.join(', ')}]; ${view.nodes.map((n) => `${n.name} ${n.reachable ? n.role : 'unreachable'}`).join(', ')}${leaseNote}`);
    }
  });
  if (failures.length) throw new Error(`the health check could not observe ${failures.join('; ')}`);
}

df.app.client.timer(HEALTH_CHECK, { schedule: healthCheckSchedule(), handler: healthCheckHandler });
