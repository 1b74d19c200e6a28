import type { ComputeManagementClient } from '@azure/arm-compute';
import type { PlainParameters, ShellScript } from '../../ports/vm-commands';
import { withBackoff } from './backoff';
import type { ResolvedAdapterOptions } from './options';
import { isRunCommandBusy } from './rest-errors';
import type { ResourceId } from './resource-id';
import { type CommandStreams, streamsFromRunCommandResult } from './run-command-output';

/**
 * POST .../virtualMachines/{vm}/runCommand with RunShellScript, polled to completion by the SDK.
 * A second Run Command on a busy VM gets 409; we wait and retry, because Run Commands cannot be
 * cancelled and the one running will finish.
 */
export async function runActionCommand(
  compute: ComputeManagementClient,
  vm: ResourceId,
  script: ShellScript,
  parameters: PlainParameters,
  options: ResolvedAdapterOptions,
  abortSignal?: AbortSignal,
): Promise<CommandStreams> {
  const input = {
    commandId: 'RunShellScript',
    script: script.text.split('\n'),
    parameters: Object.entries(parameters).map(([name, value]) => ({ name, value })),
  };
  const result = await withBackoff(
    async () => {
      abortSignal?.throwIfAborted();
      return await compute.virtualMachines.runCommand(vm.resourceGroup, vm.name, input, { updateIntervalInMs: options.pollIntervalMs, ...(abortSignal ? { abortSignal } : {}) });
    },
    (error) => isRunCommandBusy(error) && !abortSignal?.aborted,
    options.busyRetry,
    options.clock,
    (_error, attempt, delayMs) => options.log.info('vm-command.busy-retry', { vm: vm.name, script: script.name, via: 'action', attempt, delayMs }),
  );
  return streamsFromRunCommandResult(result.value);
}
