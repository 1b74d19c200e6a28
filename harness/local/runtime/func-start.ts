import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalRuntime, type LocalRuntimeOptions } from './local-runtime';
import { readDurableBackend } from './host/durable-backend';

/**
 * What `func start` does around the host, for `npm run local`: load local.settings.json "Values"
 * into the environment, read host.json (http.routePrefix, durableTask.hubName with %Setting%
 * references, functionTimeout, the Durable storage provider), start the runtime with timer schedules on, and listen (default port 7071).
 * Environment variables already set win over local.settings.json, so a caller can override a
 * setting for one run.
 */
export interface FuncStartOptions extends Omit<LocalRuntimeOptions, 'appModule' | 'routePrefix' | 'taskHubName'> {
  /** Folder holding host.json and local.settings.json. */
  appRoot: string;
  /** Entry module to load (e.g. <appRoot>/src/index.ts under tsx). */
  appModule: string;
  port?: number;
  host?: string;
}

export interface HostJsonSettings {
  routePrefix: string;
  hubName: string | undefined;
  functionTimeout: string | undefined;
}

export async function funcStart(options: FuncStartOptions): Promise<{ runtime: LocalRuntime; origin: string }> {
  applyLocalSettings(options.appRoot);
  const host = readHostJson(options.appRoot);
  const { port, host: listenHost, ...rest } = options;
  const runtimeOptions: LocalRuntimeOptions & { appRoot?: string } = {
    scheduleTimers: true,
    ...rest,
    routePrefix: host.routePrefix,
    taskHubName: host.hubName,
    ...(host.functionTimeout ? { functionTimeout: host.functionTimeout } : {}),
    // The backend host.json (and AzureFunctionsJobHost__ settings) name: its limits apply.
    ...(rest.durableBackend || rest.dispatchLatency ? {} : { durableBackend: readDurableBackend(options.appRoot).backend }),
  };
  delete runtimeOptions.appRoot;
  const runtime = await LocalRuntime.start(runtimeOptions);
  try {
    const origin = await runtime.http.listen(port ?? 7071, listenHost ?? '127.0.0.1');
    return { runtime, origin };
  } catch (error) {
    await runtime.stop();
    throw error;
  }
}

/** Sets each local.settings.json "Values" entry that is not already in the environment; returns their names. */
export function applyLocalSettings(appRoot: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const file = join(appRoot, 'local.settings.json');
  if (!existsSync(file)) return [];
  const values = (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> }).Values ?? {};
  const applied: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (env[name] !== undefined) continue;
    env[name] = String(value);
    applied.push(name);
  }
  return applied;
}

export function readHostJson(appRoot: string, env: NodeJS.ProcessEnv = process.env): HostJsonSettings {
  const file = join(appRoot, 'host.json');
  const json = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { functionTimeout?: string; extensions?: { http?: { routePrefix?: string }; durableTask?: { hubName?: string } } })
    : {};
  const hubName = json.extensions?.durableTask?.hubName;
  return {
    routePrefix: json.extensions?.http?.routePrefix ?? 'api',
    hubName: hubName === undefined ? undefined : hubName.replace(/%([^%]+)%/g, (_, name: string) => env[name] ?? ''),
    functionTimeout: json.functionTimeout,
  };
}
