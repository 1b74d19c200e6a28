import type { EmulatorCore, Route } from './core';
import { notFound, type RequestContext } from './http-kit';
import { key, type VmState } from './state';

const VM = String.raw`^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/virtualMachines/([^/]+)`;

/** A route under .../virtualMachines/{vm} needing an RBAC action; match[1..3] are subscription, resource group and VM name. */
export const vmRoute = (method: string, suffix: string, action: string, handler: Route['handler']): Route => ({ method, pattern: new RegExp(`${VM}${suffix}$`, 'i'), action, handler });

export type OperationScope = { subscriptionId: string; provider: string; location: string; apiVersion: string };

export function vmLookup(core: EmulatorCore) {
  return {
    vmOf(match: RegExpExecArray): VmState {
      const id = `/subscriptions/${match[1]}/resourceGroups/${match[2]}/providers/Microsoft.Compute/virtualMachines/${match[3]}`;
      const vm = core.state.vms.get(key(id));
      if (!vm) throw notFound('Microsoft.Compute/virtualMachines', match[3], match[2]);
      return vm;
    },
    scope(vm: VmState, ctx: RequestContext): OperationScope {
      return { subscriptionId: vm.subscriptionId, provider: 'Microsoft.Compute', location: vm.location, apiVersion: ctx.query('api-version') as string };
    },
  };
}
