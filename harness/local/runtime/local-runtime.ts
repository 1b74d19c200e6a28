import { InvocationContext, type HttpRequest, type HttpResponse } from '@azure/functions';
import * as df from 'durable-functions';
import { dirname } from 'node:path';
import { AppFunctions, type FunctionSummary } from './app-functions';
import { realClock, type Clock } from './clock';
import { clientBindingData, type ClientBindingData } from './durable/client-binding';
import { startRpcListener } from './durable/durable-endpoints';
import type { ApiContext } from './durable/durable-http-api';
import type { InstanceState } from './durable/instance-state';
import { InstanceStore } from './durable/instance-store';
import { EntityScheduler } from './durable/entity-scheduler';
import { EntityStore } from './durable/entity-store';
import { OrchestrationEngine, type InstanceFilter } from './durable/orchestration-engine';
import { DispatchLatency, resolveDispatchLatency, type DispatchLatencyOption, type DispatchLatencyProfile } from './durable/dispatch-latency';
import { DTS_MAX_PAYLOAD_BYTES } from './durable/payload-limit';
import type { DurableBackend } from './host/durable-backend';
import { createFunctionKeys, type FunctionKeys } from './http/function-keys';
import { HttpHost } from './http/http-host';
import { httpRouteOf, pathBelowPrefix } from './http/http-routes';
import type { Listening } from './http/node-http';
import { plainResponseFromRpc, rpcHttpFromHttpRequest, toHttpResponse } from './http/rpc-http';
import { FLEX_CONSUMPTION_DEFAULT_TIMEOUT, parseFunctionTimeout } from './host/function-timeout';
import { createRuntimeLog, type LogSink, type RuntimeLog, type RuntimeLogLevel } from './log';
import { TimerScheduler } from './timers/timer-scheduler';
import { kindOf } from './worker/function-kinds';
import { loadFunctionApp } from './worker/load-app';
import type { WorkerCore } from './worker/worker-core';

export type { FunctionSummary } from './app-functions';

export interface LocalRuntimeOptions {
  /** Directory for persisted orchestration state (created if missing). */
  stateDir: string;
  /** Absolute path of the app entry module (e.g. src/index.ts); omit to use functions already registered. */
  appModule?: string;
  /** Keys for authLevel function/admin and the durable webhooks; generated when omitted. */
  functionKey?: string;
  masterKey?: string;
  systemKey?: string;
  /** Task hub name in client bindings and management URLs (the extension's default: TestHubName). */
  taskHubName?: string;
  /** host.json extensions.http.routePrefix (default "api"). */
  routePrefix?: string;
  clock?: Clock;
  log?: LogSink;
  logLevel?: RuntimeLogLevel;
  /** Fire timer triggers on their NCRONTAB schedule (default false: only invokeTimer fires them). */
  scheduleTimers?: boolean;
  /** Port of the loopback Durable Task RPC endpoint (default: any free port). */
  rpcPort?: number;
  /** host.json functionTimeout, e.g. "00:10:00" (default: Flex Consumption's 30 minutes). */
  functionTimeout?: string;
  /**
   * The Durable backend whose limits apply (host.json storageProvider.type): 'dts' (azureManaged,
   * as host.json and the Bicep default) enforces the scheduler's 1 MB payload limit; 'azure-storage'
   * has none. Default: the dispatchLatency profile's backend, else 'dts'.
   */
  durableBackend?: DurableBackend;
  /**
   * The backend's dispatch latency and Flex cold starts (durable/dispatch-latency.ts): 'none' (the
   * default: tests drive a ManualClock and would have to advance it for every dispatch), 'dts',
   * 'azure-storage', or a profile. The realistic local stack passes the deployment's.
   */
  dispatchLatency?: DispatchLatencyOption;
}

/** The Azure platform the runtime plays: backend (payload limit) and dispatch latency. */
export interface DurablePlatform {
  durableBackend: DurableBackend;
  maxPayloadBytes: number | undefined;
  dispatchLatency: DispatchLatencyProfile;
}

/**
 * Runs the app's own function registrations without the Functions host: HTTP handlers behind a
 * func-start-like server (`http`), timers on their schedule or on demand, orchestrations replayed
 * by a local Durable Task host with determinism checks and state persisted under `stateDir`, and
 * the Durable Task HTTP API that durable-functions' real DurableClient talks to.
 */
export class LocalRuntime {
  /** A real durable-functions DurableClient (built by df.getClient from a host-shaped binding). */
  readonly client: df.DurableClient;

  private constructor(
    private readonly core: WorkerCore,
    private readonly functionsOfApp: AppFunctions,
    private readonly engine: OrchestrationEngine,
    private readonly entities: EntityScheduler,
    private readonly rpc: Listening & { rpcBaseUrl: string },
    private readonly timers: TimerScheduler,
    /** The func-start-like HTTP listener; call `http.listen(port)` to serve the app. */
    readonly http: HttpHost,
    readonly keys: FunctionKeys,
    private readonly settings: { taskHubName: string; routePrefix: string; log: RuntimeLog },
    /** The backend and dispatch latency in force. */
    readonly platform: DurablePlatform,
  ) {
    this.client = this.durableClient();
  }

  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const log = createRuntimeLog(options.log, options.logLevel);
    const core = loadFunctionApp(options.appModule);
    core.logListener = (level, category, message) => log.debug('worker.log', { level, category, message });
    const clock = options.clock ?? realClock;
    const keys = createFunctionKeys({ functionKey: options.functionKey, masterKey: options.masterKey, systemKey: options.systemKey });
    const settings = { taskHubName: options.taskHubName ?? 'TestHubName', routePrefix: options.routePrefix ?? 'api', log };

    // The durable client binding names the HTTP host's origin once it listens (the rpc listener before).
    const listeners: { rpc?: Listening & { rpcBaseUrl: string }; http?: HttpHost } = {};
    const binding = (): ClientBindingData => {
      if (!listeners.rpc) throw new Error('the local runtime is still starting');
      const origin = listeners.http?.origin ?? listeners.rpc.origin;
      return clientBindingData({ origin, taskHubName: settings.taskHubName, systemKey: keys.systemKey }, listeners.rpc.rpcBaseUrl);
    };
    const functions = new AppFunctions(core, log, binding);
    const functionTimeout = parseFunctionTimeout(options.functionTimeout ?? FLEX_CONSUMPTION_DEFAULT_TIMEOUT);
    const platform = durablePlatform(options);
    const entities: EntityScheduler = new EntityScheduler({
      store: new EntityStore(options.stateDir),
      clock,
      log,
      functionTimeout,
      entityNames: () => functions.names('entity'),
      runEntity: (name, trigger) => functions.runEntity(name, trigger),
      respond: (instanceId, requestId, response) => {
        if (engine.raiseEvent(instanceId, requestId, response) !== 'accepted') log.warn('entity.responseDropped', { instanceId, requestId, reason: 'no running instance' });
      },
    });
    const engine: OrchestrationEngine = new OrchestrationEngine({
      store: new InstanceStore(options.stateDir),
      clock,
      log,
      orchestratorNames: () => functions.names('orchestration'),
      activityNames: () => functions.names('activity'),
      entityNames: () => functions.names('entity'),
      deliverToEntity: (schedulerId, request) => entities.deliver(schedulerId, request),
      runOrchestrator: (name, input) => functions.runOrchestrator(name, input),
      runActivity: (name, input) => functions.runActivity(name, input),
      functionTimeout,
      dispatch: new DispatchLatency(platform.dispatchLatency, clock, log),
      maxPayloadBytes: platform.maxPayloadBytes,
    });
    const api: ApiContext = {
      engine,
      entities,
      webhook: (origin) => ({ origin, taskHubName: settings.taskHubName, systemKey: keys.systemKey }),
      maxPayloadBytes: platform.maxPayloadBytes,
    };
    const rpc = await startRpcListener(api, keys, (error) => log.error('rpc.error', { error }), options.rpcPort ?? 0);
    listeners.rpc = rpc;
    const timers = new TimerScheduler({ clock, log, invoke: (name, info, retryContext) => functions.runTimer(name, info, retryContext) });
    const http = new HttpHost({
      routePrefix: settings.routePrefix,
      keys,
      log,
      durable: api,
      httpFunctions: () => functions.ofKind('http'),
      invokeHttp: async (fn, request) => plainResponseFromRpc((await functions.invoke(fn, { trigger: { http: request } })).returnValue),
      startByName: (name, input) => startInBackground(functions, timers, log, name, input),
    });
    listeners.http = http;
    const runtime = new LocalRuntime(core, functions, engine, entities, rpc, timers, http, keys, settings, platform);
    try {
      const appDirectory = options.appModule ? dirname(options.appModule) : undefined;
      for (const hook of core.hooksOf('appStart')) await hook({ hookData: core.appHookData, functionAppDirectory: appDirectory });
      entities.load();
      engine.start();
      entities.resume();
      if (options.scheduleTimers) timers.start(functions.timerFunctions());
    } catch (error) {
      await engine.stop();
      await entities.stop();
      await rpc.close();
      throw error;
    }
    log.info('runtime.started', { stateDir: options.stateDir, rpcBaseUrl: rpc.rpcBaseUrl, functions: functions.summaries().map((f) => `${f.name}:${f.kind}`) });
    return runtime;
  }

  /** The app's registrations as the host sees them (trigger binding with route, methods, authLevel, schedule...). */
  functions(): FunctionSummary[] {
    return this.functionsOfApp.summaries();
  }

  /**
   * Calls an HTTP-triggered function with a real HttpRequest and returns its HttpResponse. Route
   * parameters come from matching the request URL against the function's route unless given.
   * No key check here (that is the HTTP host's job).
   */
  async invokeHttp(name: string, request: HttpRequest, params?: Record<string, string>): Promise<HttpResponse> {
    const fn = this.functionsOfApp.get(name, 'http');
    const path = pathBelowPrefix(this.settings.routePrefix, new URL(request.url).pathname);
    const routeParams = params ?? (path === undefined ? undefined : httpRouteOf(fn).template.match(path)) ?? {};
    const response = await this.functionsOfApp.invoke(fn, { trigger: { http: await rpcHttpFromHttpRequest(request, routeParams) } });
    return toHttpResponse(plainResponseFromRpc(response.returnValue));
  }

  /** Fires a timer-triggered function now; rejects if the function fails (after its retry policy). */
  async invokeTimer(name: string): Promise<void> {
    const fn = this.functionsOfApp.timerFunctions().find((t) => t.name === name);
    if (!fn) throw new Error(`no timer-triggered function named '${name}' (or its schedule is invalid)`);
    await this.timers.fireNow(fn);
  }

  /** Invokes any function with a trigger value (e.g. an Event Grid event); returns its return value. */
  invokeFunction(name: string, triggerValue: unknown, triggerMetadata?: Record<string, unknown>): Promise<unknown> {
    return this.functionsOfApp.runWithValue(name, triggerValue, triggerMetadata);
  }

  getInstance(instanceId: string): InstanceState | undefined {
    return this.engine.get(instanceId);
  }

  listInstances(filter?: InstanceFilter): InstanceState[] {
    return this.engine.list(filter);
  }

  /**
   * Holds the instance's episodes until the returned function is called: what is raised meanwhile
   * waits in its inbox and is then delivered as one batch (as messages that queue up behind a busy
   * worker are). For tests that need events in one batch, e.g. at a continueAsNew boundary.
   */
  holdEpisodes(instanceId: string): () => void {
    return this.engine.holdEpisodes(instanceId);
  }

  /**
   * Holds every orchestration start between its status read and its write (as a slow storage round
   * trip does) until `release()`, so a test can make starts of one instance id overlap.
   */
  holdStarts(): { whenWaiting(count: number): Promise<void>; release(): void } {
    return this.engine.holdStarts();
  }

  /** An entity's state as the durable client reads it (undefined while it does not exist). */
  readEntity(name: string, key: string): unknown {
    const found = this.entities.read({ name, key });
    return found ? (JSON.parse(found.state ?? 'null') as unknown) : undefined;
  }

  /** Resolves when the instance reaches a terminal status (or `until` holds); event-driven, no polling. */
  async waitForInstance(
    instanceId: string,
    options: { timeoutMs: number; until?: (state: InstanceState | undefined) => boolean },
  ): Promise<InstanceState> {
    const state = await this.engine.waitFor(instanceId, options);
    if (!state) throw new Error(`instance '${instanceId}' does not exist`);
    return state;
  }

  /** Resolves with the first instance for which `until` holds (its id need not be known yet); event-driven. */
  waitForAnyInstance(options: { timeoutMs: number; until: (state: InstanceState) => boolean }): Promise<InstanceState> {
    return this.engine.waitForAny(options);
  }

  /** Stops listeners, timers and the engine; in-flight work finishes but its results are not persisted. */
  async stop(): Promise<void> {
    for (const hook of this.core.hooksOf('appTerminate')) await hook({ hookData: this.core.appHookData });
    await this.timers.stop();
    // Entities first: a request an orchestration sends meanwhile is in its history and is sent again on the next start.
    await this.entities.stop();
    await this.engine.stop();
    await Promise.all([this.http.close(), this.rpc.close()]);
    this.settings.log.info('runtime.stopped', {});
  }

  private durableClient(): df.DurableClient {
    const input = df.input.durableClient();
    const context = new InvocationContext({
      functionName: 'localRuntimeClient',
      options: { trigger: { type: 'localRuntime', name: 'localRuntime' }, extraInputs: [input] },
    });
    context.extraInputs.set(input, clientBindingData(
      { origin: this.rpc.origin, taskHubName: this.settings.taskHubName, systemKey: this.keys.systemKey },
      this.rpc.rpcBaseUrl,
    ));
    return df.getClient(context);
  }
}

function durablePlatform(options: LocalRuntimeOptions): DurablePlatform {
  const dispatchLatency = resolveDispatchLatency(options.dispatchLatency);
  const durableBackend = options.durableBackend ?? (dispatchLatency.backend === 'none' ? 'dts' : dispatchLatency.backend);
  if (dispatchLatency.backend !== 'none' && dispatchLatency.backend !== durableBackend) {
    throw new Error(`dispatchLatency models the ${dispatchLatency.backend} backend, but durableBackend is ${durableBackend}`);
  }
  return { durableBackend, maxPayloadBytes: durableBackend === 'dts' ? DTS_MAX_PAYLOAD_BYTES : undefined, dispatchLatency };
}

/** The host's admin API starts a function and answers 202 at once; failures only reach the log. */
function startInBackground(functions: AppFunctions, timers: TimerScheduler, log: RuntimeLog, name: string, input: unknown): boolean {
  const fn = functions.find(name);
  if (!fn || kindOf(fn) === 'http') return false;
  const timer = kindOf(fn) === 'timer' ? functions.timerFunctions().find((t) => t.name === name) : undefined;
  const run = timer ? timers.fireNow(timer) : functions.runWithValue(name, input);
  run.catch((error: unknown) => log.error('function.failed', { function: name, error }));
  return true;
}
