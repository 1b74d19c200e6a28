import Module from 'node:module';
import { Disposable } from './disposable';
import type {
  CoreFunctionCallback,
  CoreFunctionMetadata,
  HookCallback,
  HookName,
  ProgrammingModel,
} from './rpc-types';

/**
 * Plays the Node.js worker's side of `@azure/functions-core`, the built-in module through which
 * @azure/functions registers functions and hooks. Outside the Functions host the module is absent,
 * @azure/functions falls back to "test mode" and silently drops every registration. Providing the
 * module the way the worker does means the app's registrations reach us exactly as they reach the
 * host (the function.json-shaped metadata produced by @azure/functions' own toCoreFunctionMetadata,
 * plus the real handler), and invocations go through @azure/functions' own ProgrammingModel.
 */
export interface RegisteredFunction {
  readonly name: string;
  readonly metadata: CoreFunctionMetadata;
  readonly callback: CoreFunctionCallback;
}

export type CoreLogListener = (level: string, category: string, message: string) => void;

export class WorkerCore {
  readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks = new Map<HookName, Set<HookCallback>>();
  /** Shared across hooks for the app's lifetime, like the worker's appHookData. */
  readonly appHookData: Record<string, unknown> = {};
  programmingModel: ProgrammingModel | undefined;
  logListener: CoreLogListener | undefined;

  /** The object `require('@azure/functions-core')` returns (same members as the real worker's). */
  readonly api = {
    version: 'local-runtime',
    hostVersion: 'local-runtime',
    Disposable,
    setProgrammingModel: (model: ProgrammingModel): void => {
      this.programmingModel = model;
    },
    getProgrammingModel: (): ProgrammingModel | undefined => this.programmingModel,
    registerFunction: (metadata: CoreFunctionMetadata, callback: CoreFunctionCallback): Disposable => {
      const name = metadata.name;
      if (this.functions.has(name)) {
        throw new Error(`A function with name "${name}" has already been registered.`);
      }
      this.functions.set(name, { name, metadata, callback });
      return new Disposable(() => this.functions.delete(name));
    },
    registerHook: (hookName: HookName, callback: HookCallback): Disposable => {
      const set = this.hooks.get(hookName) ?? new Set<HookCallback>();
      this.hooks.set(hookName, set);
      set.add(callback);
      return new Disposable(() => set.delete(callback));
    },
    log: (level: string, category: string, message: string): void => {
      this.logListener?.(level, category, message);
    },
  };

  hooksOf(name: HookName): HookCallback[] {
    return [...(this.hooks.get(name) ?? [])];
  }
}

/**
 * Jest hands every module its own `require`, so the worker's Module.prototype.require hook is
 * invisible there; Jest's documented virtual-mock API serves the same module instead. `jest` is the
 * per-module object Jest injects (undefined under plain Node or tsx).
 */
declare const jest: { doMock(name: string, factory: () => unknown, options: { virtual: boolean }): unknown } | undefined;

const CORE_MODULE = '@azure/functions-core';
let installed: WorkerCore | undefined;

/** Idempotent: one worker core per module registry (the process, or one Jest test file). */
export function installWorkerCore(): WorkerCore {
  if (installed) return installed;
  const core = new WorkerCore();
  if (typeof jest !== 'undefined') {
    jest.doMock(CORE_MODULE, () => core.api, { virtual: true });
  } else {
    // What the real worker does (azure-functions-nodejs-worker src/setupCoreModule.ts).
    const proto = Module.prototype as unknown as { require: (id: string) => unknown };
    proto.require = new Proxy(proto.require, {
      apply(target, thisArg, args: unknown[]) {
        if (args[0] === CORE_MODULE) return core.api;
        return Reflect.apply(target, thisArg, args) as unknown;
      },
    });
  }
  installed = core;
  return core;
}
