import { HealthObservation, HealthState, healthVerdict, initialHealthState } from '../../../src/domain/health';
import { NodeInspection, ReachableNode } from '../../../src/domain/node-state';
import { primary, standby, testCluster, view } from '../../support/views';

/** Helpers of the health verdict's tests: observations at seconds after T0, fed one after another like the monitor does. */
/** failureThreshold 3 and graceSeconds 30 (not the defaults): threshold and grace then end at different checks. */
export const cluster = testCluster((doc) => {
  (doc.clusters as Array<Record<string, unknown>>)[0].policy = { health: { failureThreshold: 3, graceSeconds: 30 } };
});
export const T0 = Date.parse('2026-05-01T10:00:00.000Z');
export const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

export function observe(seconds: number, nodes: NodeInspection[], extra: Partial<HealthObservation> & { write?: string[]; read?: string[] } = {}): HealthObservation {
  const { write, read, ...rest } = extra;
  const v = view(nodes);
  return { startedAt: at(seconds), view: { ...v, pools: { write: write ?? v.pools.write, read: read ?? v.pools.read } }, operation: null, rejoining: [], powerStates: {}, ...rest };
}

export function run(observations: HealthObservation[], start: HealthState = initialHealthState('orders'), policy = cluster) {
  let state = start;
  const checks = observations.map((o) => {
    const assessed = healthVerdict(policy, state, o);
    state = assessed.state;
    return assessed.check;
  });
  return { checks, state, last: checks[checks.length - 1] };
}

export const healthyNodes = (lsn = '0/3000000') => [primary('pg1', lsn, ['pg2', 'pg3']), standby('pg2', 'pg1', lsn), standby('pg3', 'pg1', lsn)];

export const onTimeline = <T extends ReachableNode>(node: T, timeline: number): T => ({
  ...node,
  timeline,
  ...(node.walReceiver ? { walReceiver: { ...node.walReceiver, receivedTimeline: timeline } } : {}),
});

export const restartedAt = <T extends ReachableNode>(node: T, seconds: number): T => ({ ...node, serverStartedAt: at(seconds) });
