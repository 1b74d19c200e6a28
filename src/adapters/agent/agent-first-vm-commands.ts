import type { NodeConfig } from '../../config/schema';
import { NodeAgentSilentError, VmCommandError, VmCommandRunNotFoundError } from '../../ports/errors';
import type { OperationLog } from '../../ports/log';
import type { SecretValue } from '../../domain/secret-value';
import { pinnableProblem, type PinnableProblem } from '../../domain/pinned-certificate';
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
import { type AgentTrust, NodeAgentSilent, NodeAgentUnavailable, type NodeStepsTarget, NodeStepUnknown, pollNodeStep, runNodeStep, startNodeStep } from './node-steps';

export interface AgentFirstOptions {
  cluster: string;
  nodes: readonly NodeConfig[];
  port: number;
  /** The node's step key, from Key Vault (base64 of at least 32 bytes). */
  keyOf(node: string): Promise<SecretValue>;
  /** How the node's agent is trusted: the CA that signed its certificate, or the certificate pinned for it. */
  trustOf(node: string): Promise<AgentTrust>;
  log: OperationLog;
}

/** Run Command's default bound for a script that names none (the action API has none of its own). */
const DEFAULT_TIMEOUT_SECONDS = 300;

/**
 * Agent first, Run Command as the fallback (issue 14): a VM script runs on the node's agent over
 * HTTPS — milliseconds instead of Run Command's ~20 s — and through Run Command when the agent
 * cannot be reached or refuses before running anything. An agent that took the step and then
 * went silent is not retried through Run Command here: whether the step ran is unknown, and the
 * activity's retry (every step is idempotent) decides. Long runs (a rejoin) start on the agent
 * too and run on after the answer; they are polled there (by run name), never through ARM.
 */
export class AgentFirstVmCommands implements VmCommands {
  constructor(
    private readonly runCommand: VmCommands,
    private readonly options: AgentFirstOptions,
  ) {}

  async run(vm: VmRef, request: VmCommandRequest): Promise<VmCommandOutcome> {
    return (await this.viaAgent(vm, request, {})) ?? this.runCommand.run(vm, request);
  }

  askNodeAgent(vm: VmRef, request: VmCommandRequest): Promise<VmCommandOutcome | undefined> {
    return this.viaAgent(vm, request, {}, true);
  }

  async runWithSecrets(vm: VmRef, request: VmCommandWithSecretsRequest): Promise<VmCommandOutcome> {
    return (await this.viaAgent(vm, request, request.secrets)) ?? this.runCommand.runWithSecrets(vm, request);
  }

  async start(vm: VmRef, request: VmCommandStartRequest): Promise<VmCommandRun> {
    const target = await this.target(vm, request.script.name);
    if (target) {
      try {
        await startNodeStep(target, request.runName, this.step(request, request.secrets ?? {}, request.timeoutSeconds));
        this.options.log.info('vm-command.started', { vm: vm.name, script: request.script.name, runName: request.runName, via: 'agent' });
        return { vm: vm.name, script: request.script.name, runName: request.runName, timeoutSeconds: request.timeoutSeconds, via: 'agent' };
      } catch (error) {
        if (!(error instanceof NodeAgentUnavailable)) throw this.failed(vm, request.script.name, error);
        this.unavailable(vm, request.script.name, error.message);
      }
    }
    return this.runCommand.start(vm, request);
  }

  /** A run the agent started is read there (it lives nowhere else); a Run Command's through ARM. */
  async poll(vm: VmRef, run: VmCommandRun): Promise<VmCommandProgress> {
    if (run.via !== 'agent') return this.runCommand.poll(vm, run);
    const target = await this.target(vm, run.script);
    if (!target) throw new VmCommandError(`Script ${run.script} on ${vm.name}: started on its agent, which has no key or address now`, this.context(vm, run.script));
    let streams;
    try {
      streams = await pollNodeStep(target, run.runName);
    } catch (error) {
      if (error instanceof NodeStepUnknown) throw new VmCommandRunNotFoundError(`Script ${run.script} on ${vm.name}: ${error.message}; its result is not known`, this.context(vm, run.script));
      throw this.failed(vm, run.script, error);
    }
    if (!streams) return { done: false, executionState: 'Running' };
    return { done: true, outcome: judgeScriptRun(vm, run.script, streams, 'agent', this.options.log, this.context(vm, run.script)) };
  }

  /** The outcome through the agent, or undefined when the agent did not run the step. */
  private async viaAgent(vm: VmRef, request: VmCommandRequest, secrets: Readonly<Record<string, SecretValue>>, silenceThrows = false): Promise<VmCommandOutcome | undefined> {
    const script = request.script.name;
    const target = await this.target(vm, script);
    if (!target) return undefined;
    const started = Date.now();
    let streams;
    try {
      streams = await runNodeStep(target, this.step(request, secrets, request.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS));
    } catch (error) {
      if (!(error instanceof NodeAgentUnavailable)) throw this.failed(vm, script, error);
      this.unavailable(vm, script, error.message);
      if (silenceThrows && error instanceof NodeAgentSilent) throw new NodeAgentSilentError(`${script} on ${vm.name}: ${error.message}`, this.context(vm, script), { cause: error });
      return undefined;
    }
    const outcome = judgeScriptRun(vm, script, streams, 'agent', this.options.log, this.context(vm, script));
    this.options.log.info('vm-command.done', { vm: vm.name, script, via: 'agent', ok: true, durationMs: Date.now() - started });
    return outcome;
  }

  /** Where the node's agent is and its key; undefined (Run Command then) when the key or what the agent is trusted by cannot be read. */
  private async target(vm: VmRef, script: string): Promise<NodeStepsTarget | undefined> {
    const node = this.options.nodes.find((n) => n.name === vm.name);
    if (!node) return undefined;
    try {
      const [key, trust] = await Promise.all([this.options.keyOf(vm.name), this.options.trustOf(vm.name)]);
      if ('pinned' in trust) checkPinnable(trust.pinned);
      return { node: vm.name, host: node.host, port: this.options.port, key: Buffer.from(key.reveal(), 'base64'), trust };
    } catch (error) {
      this.unavailable(vm, script, `no step key, or nothing to trust its agent by: ${(error as Error).message}`);
      return undefined;
    }
  }

  private step(request: { script: VmCommandRequest['script']; parameters?: VmCommandRequest['parameters'] }, secrets: Readonly<Record<string, SecretValue>>, timeoutSeconds: number) {
    return {
      script: request.script,
      parameters: request.parameters ?? {},
      secrets: Object.fromEntries(Object.entries(secrets).map(([name, value]) => [name, value.reveal()])),
      timeoutSeconds,
    };
  }

  private unavailable(vm: VmRef, script: string, why: string): void {
    this.options.log.warn('vm-command.agent-unavailable', { vm: vm.name, script, why, fallback: 'run-command' });
  }

  private failed(vm: VmRef, script: string, error: unknown): VmCommandError {
    return new VmCommandError(`Script ${script} on ${vm.name} (node agent) failed: ${(error as Error).message}`, this.context(vm, script), { cause: error });
  }

  private context(vm: VmRef, script: string) {
    return { cluster: this.options.cluster, node: vm.name, step: script };
  }
}

const PINNED_ADVICE: Record<PinnableProblem['kind'], string> = {
  'not-pem': 'store the .crt file as a secret: az keyvault secret set --file steps.crt',
  'not-self-signed': "pin the agent's own self-signed certificate, or trust a CA (postgres.sslRootCertSecret)",
  expired: 'make a new one on the node and pin it',
};

/** A pinned certificate the TLS handshake could never accept, said plainly here rather than as a TLS error on every step. */
function checkPinnable(pem: string): void {
  const problem = pinnableProblem(pem, new Date());
  if (problem) throw new Error(`the pinned certificate secret ${problem.text}: ${PINNED_ADVICE[problem.kind]}`);
}
