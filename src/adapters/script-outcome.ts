import { parseScriptResult } from '../domain/script-result';
import { VmScriptFailedError } from '../ports/errors';
import type { OperationLog } from '../ports/log';
import type { VmCommandOutcome, VmRef } from '../ports/vm-commands';

/** What came back from one run of a VM script, whichever way it ran (Run Command or the node agent). */
export interface ScriptStreams {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  /** Run Command's executionState, or 'TimedOut' from the agent. */
  executionState?: string;
}

/** A script succeeded only if its last line says ok:true and (where known) it exited 0. */
export function judgeScriptRun(vm: VmRef, script: string, streams: ScriptStreams, via: VmCommandOutcome['via'], log: OperationLog, context: Record<string, string>): VmCommandOutcome {
  const parsed = parseScriptResult(streams.stdout);
  const details = { vm: vm.name, script, stdoutTail: streams.stdout, stderrTail: streams.stderr, exitCode: streams.exitCode };
  const fail = (why: string, result?: VmCommandOutcome['result']) => {
    log.warn('vm-command.failed', { vm: vm.name, script, via, why, exitCode: streams.exitCode });
    return new VmScriptFailedError(`Script ${script} failed on ${vm.name}: ${why}`, { ...details, result }, context);
  };
  const state = streams.executionState?.toLowerCase();
  if (state === 'timedout') throw fail('it timed out');
  if (state === 'canceled') throw fail('it was canceled');
  if (parsed.kind === 'missing') throw fail('it printed no PGFO_RESULT line (it stopped before the end, or its output was lost)');
  if (parsed.kind === 'malformed') throw fail(parsed.reason);
  if (!parsed.result.ok) throw fail(`it reported ok:false${typeof parsed.result.error === 'string' ? ` (${parsed.result.error})` : ''}`, parsed.result);
  if (streams.exitCode !== undefined && streams.exitCode !== 0) throw fail(`it reported ok:true but exited with code ${streams.exitCode}`, parsed.result);
  return { result: parsed.result, stdoutTail: streams.stdout, stderrTail: streams.stderr, exitCode: streams.exitCode, via };
}
