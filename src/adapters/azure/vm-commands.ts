import { FailoverError, InvalidInputError } from '../../domain/errors';
import { SecretExposureRefusedError, VmCommandBusyError, VmCommandError, VmCommandRunNotFoundError, VmCommandUnansweredError } from '../../ports/errors';
import { judgeScriptRun, type ScriptStreams } from '../script-outcome';
import type {
  PlainParameters,
  SecretParameters,
  VmCommandOutcome,
  VmCommandProgress,
  VmCommandRequest,
  VmCommandRun,
  VmCommands,
  VmCommandStartRequest,
  VmCommandWithSecretsRequest,
  VmRef,
} from '../../ports/vm-commands';
import { runActionCommand } from './action-run-command';
import type { AzureClients } from './clients';
import { deleteManagedRun, readManagedRun, RUN_COMMAND_NAME, runManagedCommand, startManagedCommand } from './managed-run-command';
import { type AzureAdapterOptions, type ResolvedAdapterOptions, resolveAdapterOptions } from './options';
import { azureErrorInfo, isRunCommandBusy } from './rest-errors';
import { parseResourceId, type ResourceId } from './resource-id';

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Action Run Command turns parameters into lines it prepends to the script
 * (`export NAME=value ...` and `set -- value ...`, per the extension's maintainer in
 * Azure/azure-cli#10400); whether it quotes values is not documented, so only values that mean
 * the same quoted or not are sent that way. Anything else must use the managed API, whose
 * handler sets environment variables directly (Azure/run-command-handler-linux, internal/exec).
 */
const ACTION_SAFE_VALUE = /^[A-Za-z0-9_.,:/=@%+-]*$/;

export class AzureVmCommands implements VmCommands {
  private readonly options: ResolvedAdapterOptions;
  private readonly locations = new Map<string, Promise<string>>();

  constructor(
    private readonly clients: Pick<AzureClients, 'compute'>,
    options: AzureAdapterOptions = {},
  ) {
    this.options = resolveAdapterOptions(options);
  }

  async run(vm: VmRef, request: VmCommandRequest): Promise<VmCommandOutcome> {
    const via = request.via ?? 'action';
    const parameters = request.parameters ?? {};
    this.checkNames(vm, request.script.name, Object.keys(parameters));
    if (via === 'action') this.checkActionValues(vm, request.script.name, parameters);
    return this.execute(vm, request, parameters, {}, via);
  }

  async runWithSecrets(vm: VmRef, request: VmCommandWithSecretsRequest): Promise<VmCommandOutcome> {
    const parameters = request.parameters ?? {};
    this.checkNames(vm, request.script.name, [...Object.keys(parameters), ...Object.keys(request.secrets)]);
    this.refuseExposedSecrets(vm, request.script.name, request.script.text, parameters, request.secrets);
    return this.execute(vm, request, parameters, request.secrets, 'managed');
  }

  async start(vm: VmRef, request: VmCommandStartRequest): Promise<VmCommandRun> {
    const script = request.script.name;
    const parameters = request.parameters ?? {};
    const secrets = request.secrets ?? {};
    this.checkNames(vm, script, [...Object.keys(parameters), ...Object.keys(secrets)]);
    this.refuseExposedSecrets(vm, script, request.script.text, parameters, secrets);
    if (!RUN_COMMAND_NAME.test(request.runName)) {
      throw new InvalidInputError(`Script ${script} on ${vm.name}: run name "${request.runName}" is not a run command name (letters, digits, '-', '_', '.'; at most 80)`, this.context({ node: vm.name, step: script }));
    }
    if (!Number.isInteger(request.timeoutSeconds) || request.timeoutSeconds < 1) {
      throw new InvalidInputError(`Script ${script} on ${vm.name}: timeoutSeconds must be a whole number of seconds (got ${request.timeoutSeconds})`, this.context({ node: vm.name, step: script }));
    }
    const id = parseResourceId(vm.vmResourceId, 'Microsoft.Compute/virtualMachines');
    // Names only, as in execute(): never a value, and a secret never.
    this.options.log.info('vm-command.start', { vm: vm.name, script, via: 'managed', async: true, runName: request.runName, parameters: Object.keys(parameters), secrets: Object.keys(secrets) });
    let existed: boolean;
    try {
      const location = await this.locationOf(id);
      ({ existed } = await startManagedCommand(this.clients.compute(id.subscriptionId), id, location, request.runName, request.script, parameters, secrets, request.timeoutSeconds, this.options));
    } catch (error) {
      throw this.wrap(error, vm, script, 'managed');
    }
    this.options.log.info('vm-command.started', { vm: vm.name, script, runName: request.runName, existed });
    return { vm: vm.name, script, runName: request.runName, timeoutSeconds: request.timeoutSeconds };
  }

  async poll(vm: VmRef, run: VmCommandRun): Promise<VmCommandProgress> {
    const id = parseResourceId(vm.vmResourceId, 'Microsoft.Compute/virtualMachines');
    const compute = this.clients.compute(id.subscriptionId);
    let view;
    try {
      view = await readManagedRun(compute, id, run.runName);
    } catch (error) {
      throw this.wrap(error, vm, run.script, 'managed');
    }
    if (!view) {
      throw new VmCommandRunNotFoundError(
        `Script ${run.script} on ${vm.name}: run command ${run.runName} does not exist (an earlier look may have read its end and deleted it); its result is not known`,
        this.context({ node: vm.name, step: run.script }),
      );
    }
    if (!view.ended) return { done: false, executionState: view.executionState };
    // Judged before the run is deleted; deleted whatever the verdict (its end has been read).
    try {
      const outcome = this.judge(vm, run.script, view, 'managed');
      this.options.log.info('vm-command.done', { vm: vm.name, script: run.script, via: 'managed', runName: run.runName, ok: true });
      return { done: true, outcome };
    } finally {
      await deleteManagedRun(compute, id, run.runName, this.options);
    }
  }

  private async execute(vm: VmRef, request: VmCommandRequest, parameters: PlainParameters, secrets: SecretParameters, via: 'action' | 'managed'): Promise<VmCommandOutcome> {
    const id = parseResourceId(vm.vmResourceId, 'Microsoft.Compute/virtualMachines');
    const compute = this.clients.compute(id.subscriptionId);
    const started = this.options.clock.now();
    // Names only: plain values are not secret, but logs are not the place for script inputs.
    this.options.log.info('vm-command.start', { vm: vm.name, script: request.script.name, via, parameters: Object.keys(parameters), secrets: Object.keys(secrets) });
    let streams: { stdout: string; stderr: string; exitCode: number | undefined; executionState?: string };
    try {
      if (via === 'action') {
        const bound = request.answerWithinSeconds === undefined ? undefined : AbortSignal.timeout(request.answerWithinSeconds * 1000);
        try {
          streams = { ...(await runActionCommand(compute, id, request.script, parameters, this.options, bound)), exitCode: undefined };
        } catch (error) {
          if (!bound?.aborted) throw error;
          this.options.log.warn('vm-command.unanswered', { vm: vm.name, script: request.script.name, via, answerWithinSeconds: request.answerWithinSeconds });
          throw new VmCommandUnansweredError(
            `Script ${request.script.name} on ${vm.name} (action Run Command) did not end within ${request.answerWithinSeconds} s: its VM's guest agent may be gone (a failed host), and the run may still happen later`,
            this.context({ node: vm.name, step: request.script.name }),
            { cause: error },
          );
        }
      } else {
        const location = await this.locationOf(id);
        streams = await runManagedCommand(compute, id, location, request.script, parameters, secrets, request.timeoutSeconds, this.options);
      }
    } catch (error) {
      throw this.wrap(error, vm, request.script.name, via);
    }
    const outcome = this.judge(vm, request.script.name, streams, via);
    this.options.log.info('vm-command.done', { vm: vm.name, script: request.script.name, via, ok: true, durationMs: this.options.clock.now() - started });
    return outcome;
  }

  private judge(vm: VmRef, script: string, streams: ScriptStreams, via: 'action' | 'managed'): VmCommandOutcome {
    return judgeScriptRun(vm, script, streams, via, this.options.log, this.context());
  }

  /** SDK errors become typed errors that say which VM and script, keeping Azure's own message. */
  private wrap(error: unknown, vm: VmRef, script: string, via: 'action' | 'managed'): Error {
    if (error instanceof FailoverError) return error;
    const info = azureErrorInfo(error);
    const context = this.context({ node: vm.name, step: script });
    this.options.log.warn('vm-command.error', { vm: vm.name, script, via, status: info.statusCode, code: info.code });
    if (isRunCommandBusy(error)) return new VmCommandBusyError(`Script ${script} did not run on ${vm.name}: another Run Command kept the VM busy past our wait (${info.message})`, context, { cause: error });
    return new VmCommandError(`Script ${script} on ${vm.name} (${via} Run Command) failed: ${info.statusCode ?? 'no response'} ${info.code ?? ''} ${info.message}`.replace(/\s+/g, ' '), context, { cause: error });
  }

  private locationOf(id: ResourceId): Promise<string> {
    const key = `${id.subscriptionId}/${id.resourceGroup}/${id.name}`.toLowerCase();
    let location = this.locations.get(key);
    if (!location) {
      location = this.clients
        .compute(id.subscriptionId)
        .virtualMachines.get(id.resourceGroup, id.name)
        .then((vm) => vm.location);
      location.catch(() => this.locations.delete(key));
      this.locations.set(key, location);
    }
    return location;
  }

  private checkNames(vm: VmRef, script: string, names: string[]): void {
    const bad = names.filter((name) => !SHELL_NAME.test(name));
    if (bad.length) throw new InvalidInputError(`Script ${script} on ${vm.name}: parameter names ${bad.map((n) => `"${n}"`).join(', ')} are not shell variable names (letters, digits, _)`, this.context({ node: vm.name, step: script }));
    const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
    if (duplicates.length) throw new InvalidInputError(`Script ${script} on ${vm.name}: ${duplicates.join(', ')} given both as a parameter and as a secret`, this.context({ node: vm.name, step: script }));
  }

  private checkActionValues(vm: VmRef, script: string, parameters: PlainParameters): void {
    const unsafe = Object.entries(parameters).filter(([, value]) => !ACTION_SAFE_VALUE.test(value)).map(([name]) => name);
    if (unsafe.length) {
      throw new InvalidInputError(
        `Script ${script} on ${vm.name}: the values of ${unsafe.join(', ')} contain spaces or shell characters that action Run Command may not pass intact; send them with via: 'managed'`,
        this.context({ node: vm.name, step: script }),
      );
    }
  }

  /** Defence in depth behind the types: a secret's value must not ride along in visible places. */
  private refuseExposedSecrets(vm: VmRef, script: string, text: string, parameters: PlainParameters, secrets: SecretParameters): void {
    for (const [secretName, secret] of Object.entries(secrets)) {
      const inText = secret.appearsIn(text);
      const inParameter = Object.entries(parameters).find(([, value]) => secret.appearsIn(value));
      if (inText || inParameter) {
        throw new SecretExposureRefusedError(
          `Script ${script} on ${vm.name}: the value of secret ${secretName} also appears in ${inText ? 'the script text' : `plain parameter ${inParameter?.[0]}`}, which Azure shows to anyone who can read the VM; nothing was sent`,
          this.context({ node: vm.name, step: script }),
        );
      }
    }
  }

  private context(extra: Record<string, string> = {}) {
    return { ...(this.options.cluster ? { cluster: this.options.cluster } : {}), ...extra };
  }
}
