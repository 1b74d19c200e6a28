import { registerActivity } from './catalogue';
import { inspectNodes } from '../src/app/inspection';
import { clusterServices } from '../src/app/services';
import { StaleDecisionError } from '../src/domain/errors';
import { writePoolRefusal } from '../src/domain/role-guards';

/**
 * Moves a node between the pools. Into the write pool only after a fresh look over SQL (no ARM
 * call) finds it a primary on the newest timeline: an orchestration resumed after a restart acts
 * on a decision taken before it, and the cluster may have moved on (docs/invariants.md S2, S9).
 * A failover leaves out the old primary it made sure of: a dead one would cost a connect timeout
 * between the promotion and the first write.
 */
registerActivity('setPoolRole', async ({ cluster, node, role, restoring, leaveOut }) => {
  const services = clusterServices(cluster);
  if (role === 'write') {
    const refusal = writePoolRefusal(node, await inspectNodes(cluster, leaveOut), { restoring: !!restoring });
    if (refusal) throw new StaleDecisionError(refusal, { cluster, node, step: 'setPoolRole' });
  }
  return services.loadBalancer.setRole(services.node(node), role);
});
