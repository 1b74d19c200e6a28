import { InvalidInputError } from '../../domain/errors';

/** The parts of an ARM id the SDK calls need: /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{childType}/{child}]. */
export interface ResourceId {
  subscriptionId: string;
  resourceGroup: string;
  provider: string;
  type: string;
  name: string;
  child?: { type: string; name: string };
}

const PATTERN = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)(?:\/([^/]+)\/([^/]+))?$/i;

export function parseResourceId(id: string, expectedType?: string): ResourceId {
  const match = PATTERN.exec(id);
  if (!match) {
    throw new InvalidInputError(`"${id}" is not an Azure resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>)`);
  }
  const [, subscriptionId, resourceGroup, provider, type, name, childType, childName] = match;
  const parsed: ResourceId = { subscriptionId, resourceGroup, provider, type, name };
  if (childType && childName) parsed.child = { type: childType, name: childName };
  if (expectedType && `${provider}/${type}`.toLowerCase() !== expectedType.toLowerCase()) {
    throw new InvalidInputError(`"${id}" is a ${provider}/${type}, expected a ${expectedType}`);
  }
  return parsed;
}

/** ARM compares ids without regard to case; so do we. */
export function sameResourceId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}
