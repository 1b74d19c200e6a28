import type { OrchestratorStateJson } from './durable/actions';
import type { ClientBindingData } from './durable/client-binding';
import type { EntityOutcome } from './durable/entity-scheduler';
import type { OrchestratorOutcome } from './durable/episode';
import type { OrchestrationBinding } from './durable/orchestration-binding';
import type { ActivityOutcome } from './durable/orchestration-engine';
import type { RuntimeLog } from './log';
import { parseSchedule } from './timers/ncrontab';
import type { TimerFunction, TimerInfoJson } from './timers/timer-scheduler';
import { durableClientBindingNames, kindOf, triggerOf, type FunctionKind } from './worker/function-kinds';
import { fromTypedData, invokeFunction, type InvocationData } from './worker/invoke-function';
import type { RpcInvocationResponse, RpcRetryContext, RpcTypedData } from './worker/rpc-types';
import type { RegisteredFunction, WorkerCore } from './worker/worker-core';

/**
 * The host's view of the registered functions: look them up by name and kind, and invoke them with
 * the trigger values the host would send (orchestration context JSON, activity input, TimerInfo,
 * durable client binding for every durableClient input), translating results and failures the way
 * the Durable Task extension does.
 */
export interface FunctionSummary {
  name: string;
  kind: FunctionKind;
  trigger: Record<string, unknown>;
  extraInputs: string[];
}

export class AppFunctions {
  constructor(
    private readonly core: WorkerCore,
    private readonly log: RuntimeLog,
    private readonly clientBinding: () => ClientBindingData,
  ) {}

  summaries(): FunctionSummary[] {
    return [...this.core.functions.values()].map((fn) => ({
      name: fn.name,
      kind: kindOf(fn),
      trigger: { ...triggerOf(fn) },
      extraInputs: Object.entries(fn.metadata.bindings)
        .filter(([, b]) => b.direction === 'in' && !/trigger$/i.test(b.type))
        .map(([name]) => name),
    }));
  }

  ofKind(kind: FunctionKind): RegisteredFunction[] {
    return [...this.core.functions.values()].filter((fn) => kindOf(fn) === kind);
  }

  names(kind: FunctionKind): string[] {
    return this.ofKind(kind).map((fn) => fn.name);
  }

  find(name: string): RegisteredFunction | undefined {
    return this.core.functions.get(name);
  }

  get(name: string, kind?: FunctionKind): RegisteredFunction {
    const fn = this.core.functions.get(name);
    if (!fn || (kind && kindOf(fn) !== kind)) throw new Error(`no ${kind ? `${kind} ` : ''}function named '${name}' is registered`);
    return fn;
  }

  /** Invokes with the durable client binding filled in for every durableClient input. */
  invoke(fn: RegisteredFunction, data: InvocationData): Promise<RpcInvocationResponse> {
    const extraInputs: Record<string, RpcTypedData> = { ...data.extraInputs };
    const names = durableClientBindingNames(fn);
    if (names.length > 0) {
      const binding = JSON.stringify(this.clientBinding());
      for (const name of names) extraInputs[name] = { string: binding };
    }
    return invokeFunction(this.core, fn, { ...data, extraInputs }, (entry) =>
      this.log.info('function.log', { function: entry.functionName, invocationId: entry.invocationId, level: entry.level, message: entry.message }),
    );
  }

  async runOrchestrator(name: string, binding: OrchestrationBinding): Promise<OrchestratorOutcome> {
    const fn = this.get(name, 'orchestration');
    try {
      const response = await this.invoke(fn, { trigger: { string: JSON.stringify(binding) } });
      return { state: fromTypedData(response.returnValue) as OrchestratorStateJson };
    } catch (error) {
      // durable-functions' OrchestrationFailureError: "<message>\n\n$OutOfProcData$:<state JSON>",
      // which the extension splits (OutOfProcExceptionHelpers) to replay the actions, then fail.
      const message = error instanceof Error ? error.message : String(error);
      const marker = '\n\n$OutOfProcData$:';
      const at = message.indexOf(marker);
      if (at < 0) return { error: message };
      return { error: message.slice(0, at), state: JSON.parse(message.slice(at + marker.length)) as OrchestratorStateJson };
    }
  }

  async runActivity(name: string, input: string | null): Promise<ActivityOutcome> {
    const fn = this.get(name, 'activity');
    try {
      const response = await this.invoke(fn, { trigger: { string: input ?? 'null' } });
      return { ok: true, result: resultJson(response.returnValue) };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      // TaskActivityShim: Reason "Activity function '<name>' failed: <message>", Details = the cause.
      return {
        ok: false,
        reason: `Activity function '${name}' failed: ${e.message}`,
        details: JSON.stringify({ Message: e.message, StackTrace: e.stack ?? null, ClassName: e.name }),
      };
    }
  }

  /** An entity batch: the trigger value is the extension's JSON text; the SDK returns its EntityState. */
  async runEntity(name: string, triggerJson: string): Promise<EntityOutcome> {
    const response = await this.invoke(this.get(name, 'entity'), { trigger: { string: triggerJson } });
    return fromTypedData(response.returnValue) as EntityOutcome;
  }

  async runTimer(name: string, info: TimerInfoJson, retryContext: RpcRetryContext | undefined): Promise<void> {
    await this.invoke(this.get(name, 'timer'), { trigger: { json: JSON.stringify(info) }, retryContext });
  }

  /** Any trigger: the value travels as JSON (e.g. an Event Grid event); returns the function's return value. */
  async runWithValue(name: string, triggerValue: unknown, triggerMetadata?: Record<string, unknown>): Promise<unknown> {
    const metadata = Object.fromEntries(Object.entries(triggerMetadata ?? {}).map(([k, v]) => [k, { json: JSON.stringify(v) }]));
    const response = await this.invoke(this.get(name), { trigger: { json: JSON.stringify(triggerValue ?? null) }, triggerMetadata: metadata });
    return fromTypedData(response.returnValue);
  }

  /** Timer functions with a valid schedule; like the host, an invalid schedule disables only that function. */
  timerFunctions(): TimerFunction[] {
    const timers: TimerFunction[] = [];
    for (const fn of this.ofKind('timer')) {
      const trigger = triggerOf(fn);
      try {
        timers.push({ name: fn.name, schedule: parseSchedule(String(trigger.schedule ?? '')), runOnStartup: trigger.runOnStartup === true, retry: fn.metadata.retryOptions });
      } catch (error) {
        this.log.error('timer.invalidSchedule', { function: fn.name, error });
      }
    }
    return timers;
  }
}

/** How the host serializes an activity's return value into TaskCompleted.Result (JSON text). */
function resultJson(data: RpcTypedData | null | undefined): string | null {
  if (!data) return null;
  if (data.json !== undefined && data.json !== null) return data.json;
  const value = fromTypedData(data);
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  return JSON.stringify(value);
}
