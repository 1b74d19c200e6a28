import { registerClientActivity } from './durable-client-activity';
import { inspectNode } from '../src/adapters/postgres/inspect';
import { inspectNodes } from '../src/app/inspection';
import { clusterServices } from '../src/app/services';
import { replicationSecrets, runVmScript } from '../src/app/vm-scripts';
import { repointRefusal } from '../src/domain/role-guards';
import { placeStandby } from '../src/domain/standby-placement';
import { owningOperation } from '../src/functions/health-check-client';
import { VmScriptFailedError } from '../src/ports/errors';
import { followPrimary } from '../src/vm-scripts/catalogue';

/**
 * How long follow.sh waits for the standby to stream. It runs inside the monitor's turn (nothing
 * else is decided meanwhile), and a standby on the primary's timeline that holds nothing the primary
 * lacks streams within seconds; one that does not is the rejoin path's, which runs on its own.
 */
const REPOINT_WAIT_SECONDS = 30;

/**
 * The health check's re-point of a standby (docs/invariants.md S4), decided on an observation that
 * may be stale by now, so everything is looked at again right before follow.sh runs: no
 * switchover or failover runs (they re-point standbys themselves), the target is the write pool's
 * single primary on the newest timeline (role-guards.ts), and the standby, read BEFORE the primary,
 * is still one that can simply follow (standby-placement.ts). A failure of the script's own wait is
 * an answer, not an activity failure: retrying the same follow would only wait as long again.
 */
registerClientActivity('repointStandby', async ({ cluster, node, primary }, client) => {
  const operation = await owningOperation(client, cluster);
  if (operation) return { outcome: 'refused', detail: `${operation.kind} ${operation.operationId} is running: it re-points the standbys itself; ${node} is left to it` };
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const standby = await inspectNode(node, await services.adminEndpoint(node), { connectTimeoutMs: timeout, statementTimeoutMs: timeout });
  const [nodes, pools] = await Promise.all([inspectNodes(cluster), services.loadBalancer.readPools()]);
  const refusal = repointRefusal(node, primary, { standby, nodes, writePool: pools.write });
  if (refusal) return { outcome: 'refused', detail: refusal };
  const target = nodes.find((n) => n.name === primary);
  // Both checked by repointRefusal; narrowed again for the type system.
  if (!standby.reachable || !target?.reachable) return { outcome: 'refused', detail: `${node} or ${primary} stopped answering` };
  const placement = placeStandby(standby, target);
  if (placement.kind === 'in-place') {
    return { outcome: 'streaming', changed: false, senderHost: standby.walReceiver?.senderHost ?? target.host, receivedTimeline: standby.walReceiver?.receivedTimeline ?? standby.timeline };
  }
  if (placement.kind === 'leave') return { outcome: 'refused', detail: placement.why };
  if (placement.kind === 'rejoin') return { outcome: 'cannot-follow', detail: placement.why };

  const { replicationPassword } = await replicationSecrets(services);
  const call = followPrimary(services.config, services.node(node), services.node(primary), { replicationPassword }, { waitSeconds: REPOINT_WAIT_SECONDS });
  try {
    const followed = await runVmScript(services, node, call);
    return { outcome: 'streaming', changed: followed.changed, senderHost: followed.senderHost, receivedTimeline: followed.receivedTimeline };
  } catch (error) {
    // The script ran and said why it could not get the standby to stream; anything else (Run
    // Command, Key Vault, a lost result) is an activity failure and is retried.
    if (!(error instanceof VmScriptFailedError) || error.result?.ok !== false) throw error;
    if (error.result.step === 'wait-streaming') return { outcome: 'cannot-follow', detail: error.message };
    // The script found the node not running, or not a standby: the decision no longer holds.
    if (error.result.step === 'check') return { outcome: 'refused', detail: error.message };
    throw error;
  }
});
