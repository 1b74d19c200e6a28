import type { ComputeManagementClient } from '@azure/arm-compute';
import { FencingError } from '../../ports/errors';
import type { FenceOptions, Fencing, PowerState } from '../../ports/fencing';
import type { VmRef } from '../../ports/vm-commands';
import type { AzureClients } from './clients';
import { type AzureAdapterOptions, type ResolvedAdapterOptions, resolveAdapterOptions } from './options';
import { azureErrorInfo } from './rest-errors';
import { parseResourceId } from './resource-id';

const KNOWN_STATES: readonly PowerState[] = ['starting', 'running', 'stopping', 'stopped', 'deallocating', 'deallocated'];

/** Fencing through ARM: power off (skipShutdown, so a hung guest cannot delay it) or deallocate. */
export class AzureFencing implements Fencing {
  private readonly options: ResolvedAdapterOptions;

  constructor(
    private readonly clients: Pick<AzureClients, 'compute'>,
    options: AzureAdapterOptions = {},
  ) {
    this.options = resolveAdapterOptions(options);
  }

  async powerOff(vm: VmRef, options: FenceOptions = {}): Promise<void> {
    const { compute, id } = this.target(vm);
    const action = options.deallocate ? 'deallocate' : 'powerOff';
    this.options.log.info('fence.start', { vm: vm.name, action });
    try {
      if (options.deallocate) await compute.virtualMachines.deallocate(id.resourceGroup, id.name, { updateIntervalInMs: this.options.pollIntervalMs });
      else await compute.virtualMachines.powerOff(id.resourceGroup, id.name, { skipShutdown: true, updateIntervalInMs: this.options.pollIntervalMs });
    } catch (error) {
      throw new FencingError(`Could not ${action} VM ${vm.name}: ${azureErrorInfo(error).message}`, this.context(vm), { cause: error });
    }
    this.options.log.info('fence.done', { vm: vm.name, action });
  }

  async powerState(vm: VmRef): Promise<PowerState> {
    const { compute, id } = this.target(vm);
    try {
      const view = await compute.virtualMachines.instanceView(id.resourceGroup, id.name);
      return powerStateOf(view.statuses ?? []);
    } catch (error) {
      throw new FencingError(`Could not read the power state of VM ${vm.name}: ${azureErrorInfo(error).message}`, this.context(vm), { cause: error });
    }
  }

  private target(vm: VmRef): { compute: ComputeManagementClient; id: ReturnType<typeof parseResourceId> } {
    const id = parseResourceId(vm.vmResourceId, 'Microsoft.Compute/virtualMachines');
    return { compute: this.clients.compute(id.subscriptionId), id };
  }

  private context(vm: VmRef) {
    return { ...(this.options.cluster ? { cluster: this.options.cluster } : {}), node: vm.name, step: 'fence' };
  }
}

/** Instance view statuses carry the power state as "PowerState/<state>". */
export function powerStateOf(statuses: readonly { code?: string }[]): PowerState {
  const code = statuses.map((s) => s.code ?? '').find((c) => c.toLowerCase().startsWith('powerstate/'));
  const state = code?.slice('PowerState/'.length).toLowerCase();
  return (KNOWN_STATES as readonly string[]).includes(state ?? '') ? (state as PowerState) : 'unknown';
}
