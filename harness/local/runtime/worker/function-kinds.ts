import type { CoreBinding } from './rpc-types';
import type { RegisteredFunction } from './worker-core';

/**
 * Reads a registered function's metadata the way the host reads function.json: the trigger is the
 * binding whose type ends in "Trigger"; a durable client is an input binding of type durableClient
 * (or the older orchestrationClient, which durable-functions' getClient also accepts).
 */
export type FunctionKind = 'http' | 'timer' | 'orchestration' | 'activity' | 'entity' | 'eventGrid' | 'other';

export interface NamedBinding extends CoreBinding {
  name: string;
}

export function bindingsOf(fn: RegisteredFunction): NamedBinding[] {
  return Object.entries(fn.metadata.bindings).map(([name, binding]) => ({ ...binding, name }));
}

export function triggerOf(fn: RegisteredFunction): NamedBinding {
  const trigger = bindingsOf(fn).find((b) => /trigger$/i.test(b.type));
  if (!trigger) throw new Error(`function "${fn.name}" has no trigger binding`);
  return trigger;
}

const kindsByTriggerType: Record<string, FunctionKind> = {
  httptrigger: 'http',
  timertrigger: 'timer',
  orchestrationtrigger: 'orchestration',
  activitytrigger: 'activity',
  entitytrigger: 'entity',
  eventgridtrigger: 'eventGrid',
};

export function kindOf(fn: RegisteredFunction): FunctionKind {
  return kindsByTriggerType[triggerOf(fn).type.toLowerCase()] ?? 'other';
}

export function durableClientBindingNames(fn: RegisteredFunction): string[] {
  return bindingsOf(fn)
    .filter((b) => b.direction === 'in' && ['durableclient', 'orchestrationclient'].includes(b.type.toLowerCase()))
    .map((b) => b.name);
}
