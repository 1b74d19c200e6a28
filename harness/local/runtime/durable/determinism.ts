import { actionTypeName, type ActionJson } from './actions';

/**
 * The check the JS SDK does not make: replaying the same history must reproduce the same actions.
 * Each episode's action list must therefore start with the previous episode's list, action by
 * action (type, function name, input, fire time, retry options, nested compound actions...).
 * `isCanceled` is excluded: the SDK flips it on an already-issued timer when Task.any moves on,
 * which is legitimate.
 */
export interface ActionDivergence {
  index: number;
  expected: ActionJson | undefined;
  actual: ActionJson | undefined;
}

export function findDivergence(previous: readonly ActionJson[], current: readonly ActionJson[]): ActionDivergence | undefined {
  for (let index = 0; index < previous.length; index++) {
    const expected = previous[index];
    const actual = current[index];
    if (actual === undefined || canonical(expected) !== canonical(actual)) return { index, expected, actual };
  }
  return undefined;
}

export function describeDivergence(instanceId: string, orchestrator: string, d: ActionDivergence): string {
  return (
    `Non-Deterministic workflow detected: orchestration instance '${instanceId}' (orchestrator '${orchestrator}') ` +
    `replayed differently from its previous episode at action #${d.index}: ` +
    `expected ${describe(d.expected)} but the orchestrator produced ${describe(d.actual)}. ` +
    'Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O or mutable module state in decisions).'
  );
}

function describe(action: ActionJson | undefined): string {
  if (action === undefined) return 'no action';
  return `${actionTypeName(action.actionType)} ${canonical(readable(action))}`;
}

function readable(action: ActionJson): unknown {
  const { actionType, compoundActions, ...rest } = action;
  return {
    actionType: actionTypeName(actionType),
    ...rest,
    ...(compoundActions ? { compoundActions: compoundActions.map(readable) } : {}),
  };
}

/** Stable JSON: keys sorted, `isCanceled` dropped. */
export function canonical(value: unknown): string {
  return JSON.stringify(normalize(value));
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      if (key === 'isCanceled') continue;
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = normalize(v);
    }
    return out;
  }
  return value;
}
