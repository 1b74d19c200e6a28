import type { OrchestrationContext, Task } from 'durable-functions';
import { activityTask, OutputOf } from '../activities/catalogue';
import type { ClusterView } from '../src/domain/cluster-view';

/**
 * The cluster as it is, and the health check's record of it (the last known primary, the nodes
 * held for planned maintenance), read side by side: one step, no control-plane call. `briefly`:
 * nodes the caller knows were silent just before (src/domain/brief-ask.ts).
 */
export function* inspectWithHealth(context: OrchestrationContext, cluster: string, briefly: string[] = []): Generator<Task, [ClusterView, OutputOf<'readHealthState'>], unknown> {
  const look = activityTask(context, 'inspectCluster', { cluster, ...(briefly.length ? { briefly } : {}) });
  return (yield context.df.Task.all([look, activityTask(context, 'readHealthState', { cluster })])) as [ClusterView, OutputOf<'readHealthState'>];
}
