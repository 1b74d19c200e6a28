import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { askNodeAgent, runVmScript } from '../src/app/vm-scripts';
import { isPoweredDown } from '../src/domain/node-state';
import { NodeAgentSilentError } from '../src/ports/errors';
import { inspectVm, stopCleanly, UNREACHABLE_NODE_ANSWER_SECONDS } from '../src/vm-scripts/catalogue';

/** Bound on the fast shutdown of a node the app cannot reach (a frozen server never stops). */
const STOP_WAIT_SECONDS = 10;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * S2 (docs/invariants.md) before a failover promotes: the old primary the app cannot reach must not
 * be running. Its VM is off, or no postmaster runs on it (a crash counts as stopped), or its agent
 * or Run Command stops it with a fast shutdown (works when only the app's network path to it is cut).
 * `stopped: false` when it may still run: the VM could not be asked, or the stop did not take
 * (frozen). Never throws for that: the caller decides (refuse, power the VM off, or - probe mode,
 * `nodeAnswered: false`, the node out of reach - wait its lease out).
 * A clean stop here leaves it configured to start as a standby (S8), keeping the primary_conninfo it
 * already had: the failover has chosen no candidate yet (it chooses on positions read after this
 * stop), so there is no new primary to name. Restarted before its rejoin it is read-only, streaming
 * from its old upstream or from none - never a writer; the rejoin then points it at the new
 * primary, and a rollback restarts it with startAs 'primary'.
 */
registerActivity('ensurePostgresStopped', async ({ cluster, node, agentSilent }) => {
  const services = clusterServices(cluster);
  const vm = services.node(node);
  const look = async () => {
    try {
      return await runVmScript(services, node, { ...inspectVm(services.config, vm, { waitSeconds: 10 }), answerWithinSeconds: UNREACHABLE_NODE_ANSWER_SECONDS });
    } catch (error) {
      return new Error(messageOf(error));
    }
  };
  // With node agents the node's agent is asked first (no ARM call; not its Run Command fallback),
  // unless it was silent just now; else, or when it does not answer, ARM's power state first,
  // since Run Command on a VM that is off fails only slowly.
  const asked = agentSilent
    ? new NodeAgentSilentError("its agent did not answer the app's probes at the failover's look just before", { cluster, node, step: 'ensurePostgresStopped' })
    : await askNodeAgent(services, node, inspectVm(services.config, vm, { waitSeconds: 10 })).catch((error: unknown) => (error instanceof Error ? error : new Error(messageOf(error))));
  if (asked === undefined || asked instanceof Error) {
    let powerState;
    try {
      powerState = await services.fencing.powerState(vm);
    } catch (error) {
      return { stopped: false, how: `it could not be asked${asked ? ` (${asked.message})` : ''}, nor its VM's power state read (${messageOf(error)})`, checkpointLsn: null, nodeAnswered: false };
    }
    if (isPoweredDown(powerState)) return { stopped: true, how: `its VM is ${powerState}`, checkpointLsn: null, nodeAnswered: false };
    const asArmSeesIt = powerState === 'running' ? 'its VM runs as ARM sees it' : `its VM is ${powerState} as ARM sees it`;
    // Silent, not refusing: its host may have failed while ARM still calls the VM running. A Run
    // Command would not be taken up there (Azure keeps it 90 minutes), so none is sent: the failover
    // powers the VM off, waits out its lease, or refuses.
    if (asked instanceof NodeAgentSilentError && services.config.policy.fenceByPowerOff) return { stopped: false, how: `${asArmSeesIt}, but nothing answers on it (${asked.message}): its host may be gone`, checkpointLsn: null, nodeAnswered: false };
  }
  const before = asked instanceof Error ? asked : (asked ?? (await look()));
  if (before instanceof Error) return { stopped: false, how: `its VM runs but could not be asked whether PostgreSQL runs (${before.message})`, checkpointLsn: null, nodeAnswered: false };
  if (!before.running) return { stopped: true, how: `no PostgreSQL runs on its VM (cluster state "${before.clusterState}")`, checkpointLsn: null, nodeAnswered: true };
  if (before.standbySignal) return { stopped: false, how: 'PostgreSQL runs on its VM as a standby (standby.signal): it cannot be stopped as a primary', checkpointLsn: null, nodeAnswered: true };
  try {
    const stopped = await runVmScript(services, node, { ...stopCleanly(services.config, vm, null, { waitSeconds: STOP_WAIT_SECONDS }), answerWithinSeconds: UNREACHABLE_NODE_ANSWER_SECONDS });
    return { stopped: true, how: `stopped cleanly (shutdown checkpoint ${stopped.checkpointLsn})`, checkpointLsn: stopped.checkpointLsn, nodeAnswered: true };
  } catch (error) {
    const after = await look();
    if (!(after instanceof Error) && !after.running) return { stopped: true, how: `no PostgreSQL runs on its VM after the stop (${messageOf(error)})`, checkpointLsn: null, nodeAnswered: true };
    return { stopped: false, how: `PostgreSQL runs on its VM and did not stop within ${STOP_WAIT_SECONDS} s (${messageOf(error)})`, checkpointLsn: null, nodeAnswered: true };
  }
});
