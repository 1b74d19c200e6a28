import type { EmulatorCore, Route } from './core';
import { AzureHttpError, type RequestContext } from './http-kit';
import { stableUuid, vmPrincipalId } from './entra';
import { runCommandRoutes } from './run-command-routes';
import { key, type VmPowerState, type VmState } from './state';
import { type OperationScope, vmLookup, vmRoute as route } from './vm-paths';

/** Virtual machines: reads and power operations (Run Commands are in run-command-routes.ts). */
export function computeRoutes(core: EmulatorCore): Route[] {
  const { vmOf, scope } = vmLookup(core);
  return [
    route('GET', '', 'Microsoft.Compute/virtualMachines/read', async (ctx, match) => {
      const vm = vmOf(match);
      ctx.send(200, vmBody(vm, core.state.tenantId, /instanceView/i.test(ctx.query('$expand') ?? '')));
    }),
    route('GET', '/instanceView', 'Microsoft.Compute/virtualMachines/instanceView/read', async (ctx, match) => ctx.send(200, instanceViewBody(vmOf(match)))),
    route('POST', '/powerOff', 'Microsoft.Compute/virtualMachines/powerOff/action', async (ctx, match) => powerOperation(core, ctx, vmOf(match), 'powerOff', scope)),
    route('POST', '/deallocate', 'Microsoft.Compute/virtualMachines/deallocate/action', async (ctx, match) => powerOperation(core, ctx, vmOf(match), 'deallocate', scope)),
    route('POST', '/start', 'Microsoft.Compute/virtualMachines/start/action', async (ctx, match) => powerOperation(core, ctx, vmOf(match), 'start', scope)),
    ...runCommandRoutes(core),
  ];
}

async function powerOperation(core: EmulatorCore, ctx: RequestContext, vm: VmState, action: 'powerOff' | 'deallocate' | 'start', scope: (vm: VmState, ctx: RequestContext) => OperationScope) {
  if (vm.powerOperationInProgress) {
    throw new AzureHttpError(409, 'OperationNotAllowed', `Operation '${action}' is not allowed on VM '${vm.name}' since another operation is in progress.`);
  }
  const [transition, final, ms] =
    action === 'powerOff'
      ? (['stopping', 'stopped', core.latency.powerOffMs] as const)
      : action === 'deallocate'
        ? (['deallocating', 'deallocated', core.latency.deallocateMs] as const)
        : (['starting', 'running', core.latency.startMs] as const);
  const operation = core.operations.begin(scope(vm, ctx), core.latency.retryAfterSeconds.compute);
  ctx.send(202, undefined, operation.headers());
  // Powering off a stopped VM, or starting a running one, succeeds without a change.
  const noChange = vm.powerState === final || (action === 'powerOff' && vm.powerState === 'deallocated');
  if (noChange) return operation.succeed();
  vm.powerOperationInProgress = true;
  setPower(core, vm, transition);
  await core.timers.after(ms);
  setPower(core, vm, final);
  vm.powerOperationInProgress = false;
  operation.succeed();
}

function setPower(core: EmulatorCore, vm: VmState, state: VmPowerState): void {
  vm.powerState = state;
  core.record.powerChanges.push({ vm: vm.name, state });
  core.powerChanged(vm.name, state);
}

function instanceViewBody(vm: VmState) {
  const display: Record<VmPowerState, string> = {
    starting: 'VM starting',
    running: 'VM running',
    stopping: 'VM stopping',
    stopped: 'VM stopped',
    deallocating: 'VM deallocating',
    deallocated: 'VM deallocated',
  };
  return {
    computerName: vm.name,
    osName: 'debian',
    osVersion: '12',
    vmAgent: { vmAgentVersion: '2.9.1.1', statuses: [{ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Ready' }] },
    statuses: [
      { code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded' },
      { code: `PowerState/${vm.powerState}`, level: 'Info', displayStatus: display[vm.powerState] },
    ],
  };
}

function vmBody(vm: VmState, tenantId: string, withInstanceView: boolean) {
  return {
    id: vm.id,
    name: vm.name,
    type: 'Microsoft.Compute/virtualMachines',
    location: vm.location,
    identity: { type: 'SystemAssigned', principalId: vmPrincipalId(vm.id), tenantId },
    properties: {
      // A UUID that stays the same for the same resource id, as the VM's vmId does.
      vmId: stableUuid(key(vm.id)),
      hardwareProfile: { vmSize: 'Standard_D2s_v5' },
      storageProfile: { osDisk: { osType: 'Linux', name: `${vm.name}-osdisk`, createOption: 'FromImage' } },
      osProfile: { computerName: vm.name, adminUsername: 'azureuser', linuxConfiguration: { disablePasswordAuthentication: true } },
      networkProfile: { networkInterfaces: vm.nicId ? [{ id: vm.nicId, properties: { primary: true } }] : [] },
      provisioningState: 'Succeeded',
      ...(withInstanceView ? { instanceView: instanceViewBody(vm) } : {}),
    },
  };
}
