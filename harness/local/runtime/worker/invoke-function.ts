import { randomUUID } from 'node:crypto';
import { triggerOf } from './function-kinds';
import type {
  CoreInvocationContext,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcParameterBinding,
  RpcRetryContext,
  RpcTypedData,
} from './rpc-types';
import type { RegisteredFunction, WorkerCore } from './worker-core';

/** What the host puts on the wire for one invocation, keyed by binding name. */
export interface InvocationData {
  trigger?: RpcTypedData;
  /** Values for non-trigger input bindings (e.g. the durable client binding JSON). */
  extraInputs?: Record<string, RpcTypedData>;
  triggerMetadata?: Record<string, RpcTypedData>;
  retryContext?: RpcRetryContext;
}

export type FunctionLogListener = (entry: {
  functionName: string;
  invocationId: string;
  level: string;
  category: string;
  message: string;
}) => void;

/**
 * Invokes a registered function the way the Node.js worker's InvocationHandler does
 * (azure-functions-nodejs-worker src/eventHandlers/InvocationHandler.ts): the app's programming
 * model (@azure/functions) turns the RPC request into (context, inputs), pre/post-invocation hooks
 * run, the handler runs, and the programming model converts the result back to RPC data. Handler
 * errors are rethrown, as the worker reports them to the host as a failed invocation.
 */
export async function invokeFunction(
  core: WorkerCore,
  fn: RegisteredFunction,
  data: InvocationData,
  onLog?: FunctionLogListener,
): Promise<RpcInvocationResponse> {
  const model = core.programmingModel;
  if (!model) throw new Error('no programming model registered: did the app register any function?');
  const invocationId = randomUUID();
  const request: RpcInvocationRequest = {
    invocationId,
    functionId: fn.name,
    inputData: inputDataFor(fn, data),
    triggerMetadata: data.triggerMetadata ?? {},
    retryContext: data.retryContext,
  };
  const coreContext: CoreInvocationContext = {
    invocationId,
    request,
    metadata: fn.metadata,
    log: (level, category, message) => onLog?.({ functionName: fn.name, invocationId, level, category, message }),
  };
  const invocationModel = await model.getInvocationModel(coreContext);
  const { context, inputs: initialInputs } = await invocationModel.getArguments();
  const hookData: Record<string, unknown> = {};
  const pre = {
    hookData,
    appHookData: core.appHookData,
    invocationContext: context,
    functionCallback: fn.callback,
    inputs: initialInputs,
  };
  await runHooks(core, 'preInvocation', coreContext, pre);
  const post = { hookData, appHookData: core.appHookData, invocationContext: context, inputs: pre.inputs, result: null as unknown, error: null as unknown };
  let failed = false;
  coreContext.state = 'invocation';
  try {
    post.result = await invocationModel.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (error) {
    failed = true;
    post.error = error;
  } finally {
    coreContext.state = undefined;
  }
  await runHooks(core, 'postInvocation', coreContext, post);
  if (failed) throw post.error;
  return invocationModel.getResponse(context, post.result);
}

function inputDataFor(fn: RegisteredFunction, data: InvocationData): RpcParameterBinding[] {
  const trigger = triggerOf(fn);
  const inputData: RpcParameterBinding[] = [{ name: trigger.name, data: data.trigger }];
  for (const [name, value] of Object.entries(data.extraInputs ?? {})) inputData.push({ name, data: value });
  return inputData;
}

async function runHooks(
  core: WorkerCore,
  name: 'preInvocation' | 'postInvocation',
  coreContext: CoreInvocationContext,
  hookContext: object,
): Promise<void> {
  coreContext.state = name === 'preInvocation' ? 'preInvocationHooks' : 'postInvocationHooks';
  try {
    for (const hook of core.hooksOf(name)) await hook(hookContext);
  } finally {
    coreContext.state = undefined;
  }
}

/** Decodes a returned RpcTypedData the way @azure/functions' fromRpcTypedData reads it. */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (data.int !== undefined && data.int !== null) return data.int;
  if (data.double !== undefined && data.double !== null) return data.double;
  return undefined;
}
