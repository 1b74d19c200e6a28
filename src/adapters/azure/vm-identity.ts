import { NodeAuthenticationError } from '../../domain/errors';
import type { AzureClients } from './clients';
import { parseResourceId } from './resource-id';
import { azureErrorInfo } from './rest-errors';

/** The object id of a VM's system-assigned managed identity, or undefined when it has none. */
export type VmPrincipalLookup = (vmResourceId: string, options?: { maxAgeMs?: number }) => Promise<string | undefined>;

/** A VM's identity changes only when it is removed and assigned anew; a removed one is trusted this long at most. */
const DEFAULT_MAX_AGE_MS = 5 * 60_000;

/**
 * Reads `identity.principalId` of a VM from ARM (Microsoft.Compute/virtualMachines/read, which the
 * failover role has) and keeps it, so that a node's calls cost no ARM read once it is known.
 * Concurrent callers share one read, so a burst of calls costs one ARM request.
 */
export function createVmPrincipalLookup(clients: AzureClients, now: () => number = Date.now): VmPrincipalLookup {
  const known = new Map<string, { principalId: string | undefined; at: number }>();
  const reading = new Map<string, Promise<string | undefined>>();
  const read = async (key: string, vmResourceId: string): Promise<string | undefined> => {
    const id = parseResourceId(vmResourceId, 'Microsoft.Compute/virtualMachines');
    let vm;
    try {
      vm = await clients.compute(id.subscriptionId).virtualMachines.get(id.resourceGroup, id.name);
    } catch (error) {
      // ARM's words (ids, scopes) stay in the log: the caller may be anyone in the tenant.
      throw new NodeAuthenticationError(`could not read the identity of VM ${id.name} to check the caller; try again`, 503, { vm: id.name, cause: azureErrorInfo(error).message });
    }
    const systemAssigned = /SystemAssigned/i.test(vm.identity?.type ?? '');
    const principalId = systemAssigned ? vm.identity?.principalId?.toLowerCase() : undefined;
    known.set(key, { principalId, at: now() });
    return principalId;
  };
  return async (vmResourceId, options = {}) => {
    const key = vmResourceId.toLowerCase();
    const cached = known.get(key);
    if (cached && now() - cached.at <= (options.maxAgeMs ?? DEFAULT_MAX_AGE_MS)) return cached.principalId;
    let pending = reading.get(key);
    if (!pending) {
      pending = read(key, vmResourceId).finally(() => reading.delete(key));
      reading.set(key, pending);
    }
    return pending;
  };
}
