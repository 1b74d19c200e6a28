import type { ClusterConfig, NodeConfig } from '../config/schema';
import { NodeAuthenticationError } from '../domain/errors';
import type { EntraTokenVerifier } from '../adapters/azure/entra-tokens';
import type { VmPrincipalLookup } from '../adapters/azure/vm-identity';

/** How a node route tells its caller: the Entra token check, and which identity each VM has. */
export interface NodeAuthentication {
  verify: EntraTokenVerifier;
  principalOf: VmPrincipalLookup;
}

/** A kept identity that does not match the token is read again once it is this old (the VM's identity assigned anew). */
const RECHECK_AFTER_MS = 60_000;

const vmNameOf = (node: NodeConfig) => node.vmResourceId.split('/').pop();

/**
 * The node routes (scheduled events, shutdown, step enrollment) act for one node: only that node's VM may call them.
 * The caller proves it with an access token of the VM's system-assigned managed identity, issued
 * for NODE_AUTH_AUDIENCE; the token's object id must be the `identity.principalId` ARM shows on the
 * node's VM. A token of another VM, of any other identity, or a function key is refused, so no VM
 * can speak for another node, another cluster, or reach an operator route (docs/design.md §8).
 * The token is checked before `locate` looks up the names in the URL, so an anonymous caller
 * learns nothing about the configuration. Throws NodeAuthenticationError (401/403/503) or the 404 of an
 * unknown name; changes nothing.
 */
export async function authenticateNode(
  authorization: string | null | undefined,
  locate: () => { cluster: ClusterConfig; node: NodeConfig },
  auth: NodeAuthentication,
): Promise<{ cluster: ClusterConfig; node: NodeConfig }> {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (!token) {
    throw new NodeAuthenticationError(
      "only the node's own VM may call this route: send \"Authorization: Bearer <token>\" with a token of the VM's managed identity from its metadata service, for the app's NODE_AUTH_AUDIENCE",
      401,
    );
  }
  const subject = await auth.verify(token);
  const { cluster, node } = locate();
  const context = { cluster: cluster.name, node: node.name };
  const vm = vmNameOf(node);
  const notThisVm = () => new NodeAuthenticationError(`the token is of identity ${subject.objectId}, not of VM ${vm}: a VM may call only its own node's routes`, 403, context);
  // A managed identity's token names its resource: another VM's is refused without asking ARM.
  if (subject.managedIdentityResourceId !== null && subject.managedIdentityResourceId.toLowerCase() !== node.vmResourceId.toLowerCase()) throw notThisVm();
  let expected = await auth.principalOf(node.vmResourceId);
  if (expected !== subject.objectId) expected = await auth.principalOf(node.vmResourceId, { maxAgeMs: RECHECK_AFTER_MS });
  if (!expected) {
    throw new NodeAuthenticationError(`VM ${vm} of node ${node.name} has no system-assigned managed identity, so no caller can prove it is that VM: enable it (az vm identity assign -g <group> -n ${vm})`, 403, context);
  }
  if (expected !== subject.objectId) throw notThisVm();
  return { cluster, node };
}
