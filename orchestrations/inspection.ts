import type { OrchestrationContext, Task } from 'durable-functions';
import { activityTask, OutputOf } from '../activities/catalogue';
import type { ClusterView } from '../src/domain/cluster-view';

/**
 * The cluster as it is, and the health check's record of it (the last known primary, the nodes
 * held for planned maintenance), read side by side: one step, no control-plane call.
 */
export function* inspectWithHealth(context: OrchestrationContext, cluster: string): Generator<Task, [ClusterView, OutputOf<'readHealthState'>], unknown> {
  return (yield context.df.Task.all([activityTask(context, 'inspectCluster', { cluster }), activityTask(context, 'readHealthState', { cluster })])) as [ClusterView, OutputOf<'readHealthState'>];
}
