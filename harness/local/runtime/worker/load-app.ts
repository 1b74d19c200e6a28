import { app } from '@azure/functions';
import { installWorkerCore, type WorkerCore } from './worker-core';

/**
 * Loads the Functions app the way the worker does: `@azure/functions-core` is made available
 * first, then the app's entry module runs and registers its functions. Registrations are
 * process-wide (a module runs once per process), so a second runtime in the same process sees the
 * functions registered by the first load, exactly as a worker restart would re-register them.
 */
export function loadFunctionApp(appModule: string | undefined): WorkerCore {
  const core = installWorkerCore();
  assertCoreApiIsUsed(core);
  if (appModule) {
    // A real `require`: the app entry is CommonJS (module node16), loaded by path like the worker
    // loads package.json "main". Dynamic import() would bypass Jest's module registry.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(appModule);
  }
  return core;
}

/**
 * @azure/functions decides once per process whether a worker is present. If something registered a
 * function before the runtime was installed, it is in "test mode" for good and would drop every
 * registration silently; fail loudly instead. Registering a throw-away hook reveals which mode it
 * is in without side effects.
 */
function assertCoreApiIsUsed(core: WorkerCore): void {
  const before = core.hooksOf('appTerminate').length;
  const probe = app.hook.appTerminate(() => undefined);
  const reached = core.hooksOf('appTerminate').length > before;
  probe.dispose();
  if (!reached) {
    throw new Error(
      '@azure/functions is already in "test mode" (a module registered functions before the local runtime was ' +
        'installed), so registrations would be dropped. Load the app only through LocalRuntime.start({ appModule }).',
    );
  }
}
