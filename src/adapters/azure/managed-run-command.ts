import { randomBytes } from 'node:crypto';
import type { ComputeManagementClient, VirtualMachineRunCommand } from '@azure/arm-compute';
import type { PlainParameters, SecretParameters, ShellScript } from '../../ports/vm-commands';
import { withBackoff } from './backoff';
import type { ResolvedAdapterOptions } from './options';
import { isNotFound, isRunCommandBusy } from './rest-errors';
import type { ResourceId } from './resource-id';

export interface ManagedCommandResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  /** Succeeded, Failed, TimedOut, Canceled (or Unknown) as Azure reports it. */
  executionState: string;
  runCommandName: string;
}

const RUNNING_STATES = new Set(['pending', 'running']);

/** Our run names (uniqueRunCommandName, vmScriptRunName): the sweep touches nothing else on the VM. */
const OUR_RUNS = /^pgfo-/;
/**
 * An ended run of ours that nobody read for this long was abandoned: the orchestration that started
 * it gave up (its script outlived its timeout) or was terminated, or an attempt died between the
 * run's end and its deletion. Live orchestrations look at their runs every 15 s at most.
 */
export const ABANDONED_AFTER_MS = 60 * 60_000;

/**
 * Deletes our abandoned runs before creating one, so leftovers never use up the VM's 25 managed
 * Run Commands (../shared/azure-facts.md: "Max 25 per VM (delete after use)"), after which every
 * managed run on it — every rejoin — would be refused. One list call, off the write path (managed
 * runs carry secrets or long scripts; the outage's steps use action Run Command). A failed sweep
 * is logged: the create then says whether the VM is full.
 */
async function sweepAbandonedRuns(compute: ComputeManagementClient, vm: ResourceId, options: ResolvedAdapterOptions): Promise<void> {
  const abandoned: string[] = [];
  try {
    for await (const rc of compute.virtualMachineRunCommands.listByVirtualMachine(vm.resourceGroup, vm.name, { expand: 'instanceView' })) {
      const view = rc.instanceView;
      const ended = view?.endTime && !RUNNING_STATES.has((view.executionState ?? 'unknown').toLowerCase());
      if (rc.name && OUR_RUNS.test(rc.name) && ended && options.clock.now() - new Date(view.endTime!).getTime() > ABANDONED_AFTER_MS) abandoned.push(rc.name);
    }
  } catch (error) {
    options.log.warn('vm-command.sweep-failed', { vm: vm.name, error: (error as Error).message });
    return;
  }
  for (const name of abandoned) {
    options.log.info('vm-command.abandoned-run-deleted', { vm: vm.name, runCommand: name });
    await deleteQuietly(compute, vm, name, options);
  }
}

/** Azure's rule for a run command's name, as the emulator enforces it: at most 80 characters. */
export const RUN_COMMAND_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/;

/** A managed run's instance view as far as we read it. */
export interface ManagedRunView {
  /** Pending, Running, Succeeded, Failed, TimedOut, Canceled, Unknown (no instance view yet counts as Unknown). */
  executionState: string;
  /** Whether the state is an end (anything but Pending, Running and Unknown). */
  ended: boolean;
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
}

/**
 * PUT .../virtualMachines/{vm}/runCommands/{name} (the managed Run Command resource), then read
 * its instance view for exit code and output, then delete it (a VM keeps at most 25).
 * Secrets go ONLY in protectedParameters, which Azure never returns on GET. The name is unique
 * per call because an identical PUT under an existing name does not run the script again —
 * which also makes our own retry of the PUT (after a 409 or a lost response) safe: the same
 * name never runs twice.
 */
export async function runManagedCommand(
  compute: ComputeManagementClient,
  vm: ResourceId,
  location: string,
  script: ShellScript,
  parameters: PlainParameters,
  secrets: SecretParameters,
  timeoutSeconds: number | undefined,
  options: ResolvedAdapterOptions,
): Promise<ManagedCommandResult> {
  const runCommandName = uniqueRunCommandName(script.name);
  await sweepAbandonedRuns(compute, vm, options);
  const body: VirtualMachineRunCommand = {
    location,
    source: { script: script.text },
    parameters: Object.entries(parameters).map(([name, value]) => ({ name, value })),
    protectedParameters: Object.entries(secrets).map(([name, secret]) => ({ name, value: secret.reveal() })),
    // Wait for the script inside the PUT's long-running operation, and report a failing script
    // through the instance view (exit code) rather than as a failed deployment.
    asyncExecution: false,
    treatFailureAsDeploymentFailure: false,
    ...(timeoutSeconds === undefined ? {} : { timeoutInSeconds: timeoutSeconds }),
  };
  try {
    await withBackoff(
      async () => await compute.virtualMachineRunCommands.createOrUpdate(vm.resourceGroup, vm.name, runCommandName, body, { updateIntervalInMs: options.pollIntervalMs }),
      isRunCommandBusy,
      options.busyRetry,
      options.clock,
      (_error, attempt, delayMs) => options.log.info('vm-command.busy-retry', { vm: vm.name, script: script.name, via: 'managed', attempt, delayMs }),
    );
    const view = await waitForTerminalState(compute, vm, runCommandName, timeoutSeconds, options);
    return {
      stdout: view.output ?? '',
      stderr: view.error ?? '',
      exitCode: view.exitCode,
      executionState: view.executionState ?? 'Unknown',
      runCommandName,
    };
  } finally {
    await deleteQuietly(compute, vm, runCommandName, options);
  }
}

/**
 * With asyncExecution false the PUT normally completes after the script, but the instance view
 * is the authority: poll it until the execution state is terminal.
 */
async function waitForTerminalState(compute: ComputeManagementClient, vm: ResourceId, name: string, timeoutSeconds: number | undefined, options: ResolvedAdapterOptions) {
  const deadline = options.clock.now() + ((timeoutSeconds ?? 90 * 60) + 300) * 1000;
  for (;;) {
    const runCommand = await compute.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, vm.name, name, { expand: 'instanceView' });
    const view = runCommand.instanceView ?? {};
    const state = (view.executionState ?? 'Unknown').toLowerCase();
    if (!RUNNING_STATES.has(state)) return view;
    if (options.clock.now() > deadline) return { ...view, executionState: 'TimedOut' };
    await options.clock.sleep(options.pollIntervalMs);
  }
}

/**
 * PUT .../runCommands/{runName} with asyncExecution: the PUT's long-running operation ends once
 * the script has started, not when it ends ("If set to true, provisioning will complete as soon
 * as the script starts and will not wait for script to complete": REST API reference, Virtual
 * Machine Run Commands - Create Or Update, properties.asyncExecution). The script's end is read
 * later from the instance view (readManagedRun).
 *
 * `runName` names one logical run: if a run of that name exists, it is left alone (a retried
 * start must never start the script twice), and a PUT that is itself retried (busy VM, lost
 * response) is identical, which Azure does not run again either. Returns whether it existed.
 */
export async function startManagedCommand(
  compute: ComputeManagementClient,
  vm: ResourceId,
  location: string,
  runName: string,
  script: ShellScript,
  parameters: PlainParameters,
  secrets: SecretParameters,
  timeoutSeconds: number,
  options: ResolvedAdapterOptions,
): Promise<{ existed: boolean }> {
  if (await readManagedRun(compute, vm, runName)) return { existed: true };
  await sweepAbandonedRuns(compute, vm, options);
  const body: VirtualMachineRunCommand = {
    location,
    source: { script: script.text },
    parameters: Object.entries(parameters).map(([name, value]) => ({ name, value })),
    protectedParameters: Object.entries(secrets).map(([name, secret]) => ({ name, value: secret.reveal() })),
    asyncExecution: true,
    treatFailureAsDeploymentFailure: false,
    timeoutInSeconds: timeoutSeconds,
  };
  await withBackoff(
    async () => await compute.virtualMachineRunCommands.createOrUpdate(vm.resourceGroup, vm.name, runName, body, { updateIntervalInMs: options.pollIntervalMs }),
    isRunCommandBusy,
    options.busyRetry,
    options.clock,
    (_error, attempt, delayMs) => options.log.info('vm-command.busy-retry', { vm: vm.name, script: script.name, via: 'managed', attempt, delayMs }),
  );
  return { existed: false };
}

/** GET .../runCommands/{name}?$expand=instanceView; undefined when there is no run of that name. */
export async function readManagedRun(compute: ComputeManagementClient, vm: ResourceId, name: string): Promise<ManagedRunView | undefined> {
  let runCommand: VirtualMachineRunCommand;
  try {
    runCommand = await compute.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, vm.name, name, { expand: 'instanceView' });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const view = runCommand.instanceView ?? {};
  const executionState = view.executionState ?? 'Unknown';
  const state = executionState.toLowerCase();
  return {
    executionState,
    ended: !RUNNING_STATES.has(state) && state !== 'unknown',
    stdout: view.output ?? '',
    stderr: view.error ?? '',
    exitCode: view.exitCode,
  };
}

/** Deletes a run whose end was read; a failure only costs one of the VM's 25 slots, so it is logged. */
export async function deleteManagedRun(compute: ComputeManagementClient, vm: ResourceId, name: string, options: ResolvedAdapterOptions): Promise<void> {
  await deleteQuietly(compute, vm, name, options);
}

async function deleteQuietly(compute: ComputeManagementClient, vm: ResourceId, name: string, options: ResolvedAdapterOptions): Promise<void> {
  try {
    await compute.virtualMachineRunCommands.delete(vm.resourceGroup, vm.name, name, { updateIntervalInMs: options.pollIntervalMs });
  } catch (error) {
    // A leftover run command costs one of the VM's 25 slots, not correctness; say so and move on.
    options.log.warn('vm-command.cleanup-failed', { vm: vm.name, runCommand: name, error: (error as Error).message });
  }
}

/** Run command names: letters, digits, '-', '_' and '.', at most 80 characters here. */
export function uniqueRunCommandName(scriptName: string, now: number = Date.now()): string {
  const safe = scriptName.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || 'script';
  return `pgfo-${safe}-${now.toString(36)}-${randomBytes(4).toString('hex')}`;
}
