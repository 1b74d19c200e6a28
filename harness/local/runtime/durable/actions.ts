/**
 * The orchestrator "actions" durable-functions returns each episode (OrchestratorState.actions), as
 * they arrive after JSON serialization. Numbers mirror the SDK's ActionType / ReplaySchema and the
 * extension's AsyncActionType / SchemaVersion (a unit test pins them to the SDK).
 *
 * Schema versions (what `upperSchemaVersion` negotiates): V1 (0) sends one inner array per yield
 * with Task.all/any flattened; V2 (1) sends a single inner array with WhenAll/WhenAny kept as
 * compound actions; V3 (2) additionally lets the SDK split long timers and poll callHttp itself;
 * V4 (3) adds entity locks. The extension advertises upperSchemaVersion=V2 and
 * upperSchemaVersionNew=V3 (OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString),
 * and its replay shim accepts Original/V2/V3 (OutOfProcOrchestrationShim.SchemaVersion).
 */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  ScheduledSignalEntity: 10,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

export const actionTypeName = (type: unknown): string =>
  Object.entries(ActionType).find(([, value]) => value === type)?.[0] ?? `ActionType(${String(type)})`;

export const ReplaySchema = { V1: 0, V2: 1, V3: 2, V4: 3 } as const;

export interface RetryOptionsJson {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface ActionJson {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsJson;
  instanceId?: string;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: ActionJson[];
  [property: string]: unknown;
}

/** The JSON an orchestrator handler returns (durable-functions' OrchestratorState). */
export interface OrchestratorStateJson {
  isDone: boolean;
  actions: ActionJson[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion: number;
}

/**
 * Inputs of CallActivity(WithRetry) and ContinueAsNew pass through the SDK's Utils.processInput,
 * which JSON-encodes strings (so they reach the host already serialized); other values and
 * sub-orchestration inputs are plain values. Returns JSON text either way.
 */
export function serializedInput(action: ActionJson): string | null {
  const processed = [ActionType.CallActivity, ActionType.CallActivityWithRetry, ActionType.ContinueAsNew] as number[];
  if (processed.includes(action.actionType) && typeof action.input === 'string') return action.input;
  return action.input === undefined ? null : JSON.stringify(action.input);
}
