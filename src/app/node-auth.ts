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

/**
 * The node routes (scheduled events, shutdown) act for one node: only that node's VM may call them.
 * The caller proves it with an access token of the VM's system-assigned managed identity, issued
 * for NODE_AUTH_AUDIENCE; the token's object id must be the `identity.principalId` ARM shows on the
 * node's VM. A token of another VM, of any other identity, or a function key is refused, so no VM
 * can speak for another node, another cluster, or reach an operator route (docs/design.md §8).
 * Throws NodeAuthenticationError (401/403/503); changes nothing.
 */
export async function authenticateNode(authorization: string | null | undefined, cluster: ClusterConfig, node: NodeConfig, auth: NodeAuthentication): Promise<void> {
  const context = { cluster: cluster.name, node: node.name };
  const vm = node.vmResourceId.split('/').pop();
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (!token) {
    throw new NodeAuthenticationError(
      `only node ${node.name}'s VM (${vm}) may call this route: send "Authorization: Bearer <token>" with a token of the VM's managed identity from its metadata service, for the app's NODE_AUTH_AUDIENCE`,
      401,
      context,
    );
  }
  let subject;
  try {
    subject = await auth.verify(token);
  } catch (error) {
    if (error instanceof NodeAuthenticationError) throw new NodeAuthenticationError(error.message, error.status, { ...context, ...error.context });
    throw error;
  }
  let expected = await auth.principalOf(node.vmResourceId);
  if (expected !== subject.objectId) expected = await auth.principalOf(node.vmResourceId, { maxAgeMs: RECHECK_AFTER_MS });
  if (!expected) {
    throw new NodeAuthenticationError(`VM ${vm} of node ${node.name} has no system-assigned managed identity, so no caller can prove it is that VM: enable it (az vm identity assign -g <group> -n ${vm})`, 403, context);
  }
  if (expected !== subject.objectId) {
    throw new NodeAuthenticationError(`the token is of identity ${subject.objectId}, not of VM ${vm}: a VM may call only its own node's routes`, 403, context);
  }
}
