import type { NodeConfig } from '../../config/schema';
import { VmCommandError } from '../../ports/errors';
import type { OperationLog } from '../../ports/log';
import type { SecretValue } from '../../domain/secret-value';
import type {
  VmCommandOutcome,
  VmCommandProgress,
  VmCommandRequest,
  VmCommandRun,
  VmCommands,
  VmCommandStartRequest,
  VmCommandWithSecretsRequest,
  VmRef,
} from '../../ports/vm-commands';
import { judgeScriptRun } from '../script-outcome';
import { NodeAgentUnavailable, runNodeStep } from './node-steps';

export interface AgentFirstOptions {
  cluster: string;
  nodes: readonly NodeConfig[];
  port: number;
  /** The node's step key, from Key Vault (base64 of at least 32 bytes). */
  keyOf(node: string): Promise<SecretValue>;
  /** The PEM CA that signed the nodes' certificates. */
  ca(): Promise<string>;
  log: OperationLog;
}

/** Run Command's default bound for a script that names none (the action API has none of its own). */
const DEFAULT_TIMEOUT_SECONDS = 300;

/**
 * Agent first, Run Command as the fallback (issue 14): a VM script runs on the node's agent over
 * HTTPS — milliseconds instead of Run Command's ~20 s — and through Run Command when the agent
 * cannot be reached or refuses before running anything. An agent that took the step and then
 * went silent is not retried through Run Command here: whether the step ran is unknown, and the
 * activity's retry (every step is idempotent) decides. Long asynchronous runs (rejoin) stay on
 * managed Run Command, which survives the function that started it.
 */
export class AgentFirstVmCommands implements VmCommands {
  constructor(
    private readonly runCommand: VmCommands,
    private readonly options: AgentFirstOptions,
  ) {}

  async run(vm: VmRef, request: VmCommandRequest): Promise<VmCommandOutcome> {
    return (await this.viaAgent(vm, request, {})) ?? this.runCommand.run(vm, request);
  }

  async runWithSecrets(vm: VmRef, request: VmCommandWithSecretsRequest): Promise<VmCommandOutcome> {
    return (await this.viaAgent(vm, request, request.secrets)) ?? this.runCommand.runWithSecrets(vm, request);
  }

  start(vm: VmRef, request: VmCommandStartRequest): Promise<VmCommandRun> {
    return this.runCommand.start(vm, request);
  }

  poll(vm: VmRef, run: VmCommandRun): Promise<VmCommandProgress> {
    return this.runCommand.poll(vm, run);
  }

  /** The outcome through the agent, or undefined when the agent did not run the step. */
  private async viaAgent(vm: VmRef, request: VmCommandRequest, secrets: Readonly<Record<string, SecretValue>>): Promise<VmCommandOutcome | undefined> {
    const node = this.options.nodes.find((n) => n.name === vm.name);
    if (!node) return undefined;
    const script = request.script.name;
    const context = { cluster: this.options.cluster, node: vm.name, step: script };
    const started = Date.now();
    let key: SecretValue;
    let ca: string;
    try {
      [key, ca] = await Promise.all([this.options.keyOf(vm.name), this.options.ca()]);
    } catch (error) {
      this.options.log.warn('vm-command.agent-unavailable', { vm: vm.name, script, why: `no step key or CA: ${(error as Error).message}`, fallback: 'run-command' });
      return undefined;
    }
    let streams;
    try {
      streams = await runNodeStep(
        { node: vm.name, host: node.host, port: this.options.port, key: Buffer.from(key.reveal(), 'base64'), ca },
        {
          script: request.script,
          parameters: request.parameters ?? {},
          secrets: Object.fromEntries(Object.entries(secrets).map(([name, value]) => [name, value.reveal()])),
          timeoutSeconds: request.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
        },
      );
    } catch (error) {
      if (error instanceof NodeAgentUnavailable) {
        this.options.log.warn('vm-command.agent-unavailable', { vm: vm.name, script, why: error.message, fallback: 'run-command' });
        return undefined;
      }
      throw new VmCommandError(`Script ${script} on ${vm.name} (node agent) failed: ${(error as Error).message}`, context, { cause: error });
    }
    const outcome = judgeScriptRun(vm, script, streams, 'agent', this.options.log, context);
    this.options.log.info('vm-command.done', { vm: vm.name, script, via: 'agent', ok: true, durationMs: Date.now() - started });
    return outcome;
  }
}
