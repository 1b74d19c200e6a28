import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import {
  CLUSTER_MONITOR,
  HealthState,
  initialHealthState,
  MONITOR_EVENT,
  MonitorEvent,
  MonitorInput,
  monitorInstanceId,
  REJOIN_NODE,
  rejoinInstanceId,
  RejoinInput,
} from '../domain/health';
import { currentOperation } from '../app/operations';
import type { ClusterConfig } from '../config/schema';

/**
 * The client side of the cluster monitor (orchestrations/cluster-monitor.ts): start it when it
 * does not run, send it events, read its state. Used by the timer, the maintenance endpoint and
 * the activities that start operations and rejoins.
 */

const ACTIVE = new Set(['Running', 'Pending', 'ContinuedAsNew', 'Suspended']);

export async function instanceStatus(client: DurableClient, instanceId: string, showInput = false): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput });
  } catch {
    return undefined; // the SDK throws for an instance id it has never seen
  }
}

export const isActive = (status: DurableOrchestrationStatus | undefined): boolean => !!status && ACTIVE.has(String(status.runtimeStatus));

const asHealthState = (value: unknown): HealthState | undefined => {
  const state = value as Partial<HealthState> | null | undefined;
  return state && typeof state === 'object' && typeof state.cluster === 'string' && typeof state.observations === 'number' ? (state as HealthState) : undefined;
};

/** The monitor's state: its live custom status, else the input of its current execution. */
export function healthStateOf(status: DurableOrchestrationStatus | undefined): HealthState | undefined {
  if (!status) return undefined;
  return asHealthState(status.customStatus) ?? asHealthState((status.input as MonitorInput | undefined)?.state);
}

export async function readHealthState(client: DurableClient, cluster: string): Promise<HealthState | undefined> {
  return healthStateOf(await instanceStatus(client, monitorInstanceId(cluster), true));
}

/**
 * Starts the cluster's monitor unless it runs. A monitor that failed or was terminated is started
 * again from its last published state, so the maintenance flag and the last known primary survive.
 * Returns the state it read (a fresh start's initial state).
 */
export async function ensureMonitor(client: DurableClient, cluster: string): Promise<HealthState> {
  const instanceId = monitorInstanceId(cluster);
  const status = await instanceStatus(client, instanceId, true);
  const state = healthStateOf(status) ?? initialHealthState(cluster);
  if (isActive(status)) return state;
  const input: MonitorInput = { cluster, state };
  try {
    await client.startNew(CLUSTER_MONITOR, { instanceId, input });
  } catch (error) {
    // Another trigger started it first (singleton by instance id): that is what we wanted.
    if (isActive(await instanceStatus(client, instanceId))) return state;
    throw error;
  }
  return state;
}

/** Returns the monitor's state as it was before this event. */
export async function sendToMonitor(client: DurableClient, cluster: string, event: MonitorEvent): Promise<HealthState> {
  const state = await ensureMonitor(client, cluster);
  await client.raiseEvent(monitorInstanceId(cluster), MONITOR_EVENT, event);
  return state;
}

/** The running operation that owns the cluster (docs/invariants.md S5), if any. */
export async function owningOperation(client: DurableClient, cluster: string): Promise<{ operationId: string; kind: string } | null> {
  return (await currentOperation(client, cluster)) ?? null;
}

/** Nodes a rejoin orchestration is running for. */
export async function rejoinsRunning(client: DurableClient, cluster: ClusterConfig): Promise<string[]> {
  const running = await Promise.all(cluster.nodes.map(async (node) => (isActive(await instanceStatus(client, rejoinInstanceId(cluster.name, node.name))) ? node.name : undefined)));
  return running.filter((name): name is string => !!name);
}

/** Starts the rejoin of one node (singleton per node: a running one is left alone). */
export async function startRejoin(client: DurableClient, input: RejoinInput): Promise<{ started: boolean; instanceId: string }> {
  const instanceId = rejoinInstanceId(input.cluster.name, input.node);
  if (isActive(await instanceStatus(client, instanceId))) return { started: false, instanceId };
  try {
    await client.startNew(REJOIN_NODE, { instanceId, input });
    return { started: true, instanceId };
  } catch (error) {
    if (isActive(await instanceStatus(client, instanceId))) return { started: false, instanceId };
    throw error;
  }
}
