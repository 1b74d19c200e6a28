import type { OrchestrationContext, Task } from 'durable-functions';
import { callActivity, type LongVmScriptName, type LongVmScripts } from '../activities/catalogue';
import { addMilliseconds } from '../src/domain/time';
import { nextPollDelayMs, REPORT_MARGIN_SECONDS, vmScriptRunName } from '../src/domain/vm-script-run';

/** A run that was gone before its end was seen is started again this often at most (the scripts are idempotent). */
const MAX_STARTS = 2;

/**
 * Runs a long VM script (src/app/long-vm-scripts.ts) without any activity waiting for it, since
 * host.json functionTimeout bounds every activity attempt (docs/azure-platform.md item 4): one
 * activity starts it as a managed Run Command with asyncExecution, then the orchestration looks at
 * it with durable timers (1 s, doubling up to 15 s) until it ends or its own timeout, plus the time
 * Azure takes to report, has passed. A rejoin that takes an hour is an orchestration that waits
 * an hour.
 *
 * The run's name comes from the instance id, the step and the orchestration time here, so it is
 * the same on every replay and every retry of the start (which then finds the run and starts
 * nothing) and new for any other run. Returns the script's typed result; a failed script, or one
 * not seen to end in time, throws an error naming the script, the VM and why.
 */
export function* runLongVmScript<S extends LongVmScriptName>(
  context: OrchestrationContext,
  request: { cluster: string; node: string; script: S; input: LongVmScripts[S][0]; identity?: string | null },
): Generator<Task, LongVmScripts[S][1], unknown> {
  const { cluster, node, script, input, identity } = request;
  const baseName = vmScriptRunName(script, context.df.instanceId, `${script} ${node}`, context.df.currentUtcDateTime);
  let gone = '';
  for (let start = 1; start <= MAX_STARTS; start++) {
    const runName = start === 1 ? baseName : `${baseName}-${start}`;
    const run = yield* callActivity(context, 'startVmScript', { cluster, node, script, input, runName, identity });
    const deadline = addMilliseconds(context.df.currentUtcDateTime, (run.timeoutSeconds + REPORT_MARGIN_SECONDS) * 1000);
    let delayMs: number | undefined;
    for (;;) {
      delayMs = nextPollDelayMs(delayMs);
      yield context.df.createTimer(addMilliseconds(context.df.currentUtcDateTime, delayMs));
      const look = yield* callActivity(context, 'pollVmScript', { cluster, node, script, run });
      if (look.state === 'succeeded') return look.result as LongVmScripts[S][1];
      if (look.state === 'failed') throw new Error(look.error);
      if (look.state === 'gone') {
        // Its end was read by a look whose answer was lost (the attempt died after deleting the
        // run): what it did is done, so running the idempotent script again tells the result.
        gone = look.detail;
        break;
      }
      if (context.df.currentUtcDateTime >= deadline) {
        throw new Error(
          `Script ${script} on ${node} is still ${look.executionState} ${REPORT_MARGIN_SECONDS} s after its own timeout of ${run.timeoutSeconds} s (run command ${run.runName}): its end is not known; look at the VM before running it again`,
        );
      }
    }
  }
  throw new Error(gone);
}
