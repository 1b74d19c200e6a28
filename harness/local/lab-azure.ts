import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../lab/lab';
import type { NodeAgents } from '../lab/node-agents';
import { isSilenced, unsilenceNode } from '../lab/network-silence';
import { PoolRole } from '../../src/ports/load-balancer';
import { ClusterConfig } from '../../src/config/schema';
import { AzureEmulator, createBashExecutor, GuestExecutor, isOff, LatencyOption, PoolsSnapshot, startAzureEmulator, VmPowerState, worldFromCluster } from './azure-emulator';
import { type LabAgentTrust, labSecrets } from './lab-cluster';

const log = (event: string, fields: Record<string, unknown>): void => {
  process.stderr.write(`${JSON.stringify({ component: 'lab-azure', event, ...fields })}\n`);
};

/**
 * The local Azure emulator playing the lab's Azure: its VMs are the lab nodes (Run Command runs
 * the real scripts on this machine with the node's paths as parameters), its load balancer pools
 * drive the lab's TCP load balancer, and powering a VM off silences the node and kills its PostgreSQL
 * and agent.
 */
/**
 * A VM Azure holds powered off stays off across restarts of the local stack, as a real one does:
 * the stack keeps the powered-off VMs in a file, does not let the lab start their PostgreSQL,
 * and hands them to the emulator in that state.
 */
type PoweredOff = Extract<VmPowerState, 'stopped' | 'deallocated'>;

export function poweredOffVms(powerFile: string): Record<string, PoweredOff> {
  return existsSync(powerFile) ? (JSON.parse(readFileSync(powerFile, 'utf8')) as Record<string, PoweredOff>) : {};
}

/** Azure's own bound on a run its VM's guest agent never takes up (extensionsTimeBudget, PT1H30M by default). */
const UNANSWERED_RUN_COMMAND_MS = 90 * 60_000;

/**
 * A Run Command on a VM whose guest is silent (the lab's `vanish`: its host failed while ARM still
 * calls it running) runs nothing: no guest agent takes it up, and it ends only by its timeout —
 * Azure's 90 minutes without one ("it will take the command 90 minutes to timeout and fail" with
 * the agent down, microsoft/OMS-Agent-for-Linux#1496; "Run Command times out … VM agent may be
 * down", microsoft/azure-skills vm-agent-not-responding) — or, here, once the VM was powered off
 * or booted (its silence lifted), as a failed run. docs/azure-platform.md §20.
 */
function answeredOnlyWhenHeard(lab: Lab, executor: GuestExecutor): GuestExecutor {
  return async (vm, scriptText, env, run) => {
    const host = lab.layout.nodes.find((node) => node.name === vm.name)?.host;
    if (!host || !isSilenced(host)) return executor(vm, scriptText, env, run);
    const deadline = Date.now() + (run.timeoutMs ?? UNANSWERED_RUN_COMMAND_MS);
    while (Date.now() < deadline && isSilenced(host) && !run.poweredOff?.aborted) await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
    const why = Date.now() >= deadline ? 'timed out' : 'was lost when the VM powered off or booted';
    log('run-command-unanswered', { vm: vm.name, why });
    return { stdout: '', stderr: `the VM's guest agent never took the run up: it ${why}\n`, exitCode: null, timedOut: Date.now() >= deadline };
  };
}

export async function startLabAzure(
  lab: Lab,
  cluster: ClusterConfig,
  options: { latency?: LatencyOption; announce?: (line: string) => void; executor?: GuestExecutor; powerFile?: string; agents?: NodeAgents; agentTrust?: LabAgentTrust } = {},
): Promise<AzureEmulator> {
  const poweredOff = options.powerFile ? poweredOffVms(options.powerFile) : {};
  const pools = await lab.ilb().pools();
  const roles: Record<string, PoolRole> = Object.fromEntries(
    cluster.nodes.map((node) => [node.name, pools.writePool.includes(node.name) ? 'write' : pools.readPool.includes(node.name) ? 'read' : 'none']),
  );
  const vmOfHost = new Map(cluster.nodes.map((node) => [node.host, node.name]));
  // Applied one at a time, in the order Azure completed them.
  let routing = Promise.resolve();
  const route = (snapshot: PoolsSnapshot) => {
    const members = (pool: string) => (snapshot.pools[pool] ?? []).map((m) => vmOfHost.get(m.ipAddress)).filter((name): name is string => !!name);
    const pools = { writePool: members(cluster.loadBalancer.writePool), readPool: members(cluster.loadBalancer.readPool) };
    routing = routing.then(() => lab.ilb().setPools(pools)).then(
      () => undefined,
      (error: Error) => log('route-failed', { error: error.message }),
    );
  };
  const powerChanges = new Map<string, Promise<unknown>>();
  const azure = await startAzureEmulator({
    // Enrolling agents: the app stores their keys and certificates, as Key Vault Secrets Officer (main.bicep grants it then).
    world: worldFromCluster(cluster, { secrets: labSecrets(lab, options.agentTrust), roles, keyVaultRole: options.agentTrust === 'enrolled' ? 'Key Vault Secrets Officer' : 'Key Vault Secrets User' }),
    latency: options.latency ?? 'zero',
    host: lab.layout.ilb.control.host,
    // Probe mode: the probes route, and the app moves no pool member through ARM.
    ...(cluster.loadBalancer.membership === 'probe' ? {} : { onPoolsChanged: route }),
    onPowerStateChanged: (vm, state) => {
      if (options.powerFile) {
        const others = Object.fromEntries(Object.entries(poweredOffVms(options.powerFile)).filter(([name]) => name !== vm));
        writeFileSync(options.powerFile, JSON.stringify(isOff(state) ? { ...others, [vm]: state } : others));
      }
      // As on a VM, booting starts PostgreSQL on its own; it may find the server already started
      // (e.g. by a rejoin that raced the boot), which is not an error of the power change. The
      // node agent runs on the VM too (probe mode): it goes with the VM and its unit starts at boot,
      // so nothing answers for a VM that is off.
      // A VM boots only once it is all the way off; it goes off at once, and again once a boot
      // still under way has ended (whatever that boot started goes with it).
      // A VM that is off is silent (docs/azure-platform.md §20): its address and its server's
      // outgoing flows go quiet before its processes die, so that no peer hears them close.
      const agents = options.agents;
      const server = lab.server(vm);
      const previous = powerChanges.get(vm) ?? Promise.resolve();
      const off = () => lab.vanish(vm);
      const boot = () => {
        unsilenceNode(server.node.host);
        return Promise.all([server.start(), agents?.start(vm)]);
      };
      const change =
        state === 'running'
          ? previous.then(boot)
          : isOff(state)
            ? Promise.all([off(), previous.then(off)])
            : previous;
      powerChanges.set(vm, change.catch(() => undefined));
      change.catch((error: Error) => log('power-change-failed', { vm, state, error: error.message }));
    },
    ...(options.announce ? { announce: options.announce } : {}),
    executor: answeredOnlyWhenHeard(lab, options.executor ?? createBashExecutor()),
  });
  for (const [vm, state] of Object.entries(poweredOff)) azure.control.setPowerState(vm, state);
  return azure;
}
