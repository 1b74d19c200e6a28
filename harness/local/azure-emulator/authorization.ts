import type { EmulatorCore } from './core';
import { AzureHttpError } from './http-kit';

/**
 * Azure RBAC as ARM applies it to the app's identity: an action is allowed on a resource only if
 * a role assignment at that resource or above grants it, and a write that references other
 * resources (a NIC's subnet and pools, a pool address's virtual network) also needs the linked
 * action on each of them. The deployment grants one custom role on exactly the cluster's
 * resources (bicep/roles/failover-operator.json, bicep/modules/rbac-*.bicep); the emulator holds
 * the app to it, with ARM's AuthorizationFailed and LinkedAuthorizationFailed errors
 * (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting).
 * Polling an asynchronous operation is not an RBAC action (ARM ties it to the original request).
 */
export interface RoleAssignment {
  /** The role's actions, exact (the custom role lists no wildcards). */
  actions: readonly string[];
  /** Resource ids the role is assigned at. */
  scopes: readonly string[];
}

/** What an identity-less emulator calls the app's identity in its errors (ARM names the client's ids). */
const CLIENT = "The client 'pg-failover' with object id '00000000-0000-0000-0000-0000000a11ce'";

export function isGranted(assignment: RoleAssignment, action: string, resourceId: string): boolean {
  const target = resourceId.toLowerCase();
  const actionGranted = assignment.actions.some((granted) => granted.toLowerCase() === action.toLowerCase());
  return actionGranted && assignment.scopes.some((scope) => target === scope.toLowerCase() || target.startsWith(`${scope.toLowerCase()}/`));
}

/** Throws ARM's 403 unless `action` is granted at `resourceId`; records what it allowed. */
export function authorize(core: EmulatorCore, action: string, resourceId: string): void {
  if (!isGranted(core.authorization, action, resourceId)) {
    throw new AzureHttpError(
      403,
      'AuthorizationFailed',
      `${CLIENT} does not have authorization to perform action '${action}' over scope '${resourceId}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }
  core.record.authorized.push({ action, scope: resourceId });
}

/** The linked checks of a write that references other resources: every one must be granted. */
export function authorizeLinked(core: EmulatorCore, write: { action: string; resourceId: string }, linked: readonly { action: string; resourceId: string }[]): void {
  const refused = linked.filter((link) => !isGranted(core.authorization, link.action, link.resourceId));
  if (refused.length) {
    throw new AzureHttpError(
      403,
      'LinkedAuthorizationFailed',
      `${CLIENT} has permission to perform action '${write.action}' on scope '${write.resourceId}'; however, it does not have permission to perform action(s) '${refused.map((r) => r.action).join(',')}' on the linked scope(s) '${refused.map((r) => r.resourceId).join(',')}' (respectively) or the linked scope(s) are invalid.`,
    );
  }
  for (const link of linked) core.record.authorized.push({ action: link.action, scope: link.resourceId });
}
