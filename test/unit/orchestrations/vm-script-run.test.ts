import type { OrchestrationContext, Task } from 'durable-functions';
import type { InputOf, OutputOf } from '../../../activities/catalogue';
import { MAX_POLL_MS, REPORT_MARGIN_SECONDS, vmScriptRunName } from '../../../src/domain/vm-script-run';
import { runLongVmScript } from '../../../orchestrations/vm-script-run';

type Yielded = { kind: 'activity'; name: 'startVmScript' | 'pollVmScript'; input: unknown } | { kind: 'timer'; fireAt: Date };
type Poll = OutputOf<'pollVmScript'>;

/**
 * Drives the generator as the Durable replay would, answering each activity with `answer` and
 * firing each timer at its time. Returns what it returned or threw, the calls and the timers.
 */
function drive(answers: { start?: (input: InputOf<'startVmScript'>) => OutputOf<'startVmScript'>; polls: Poll[] }, instanceId = 'op-1', startAt = '2026-05-01T08:00:00.000Z') {
  let now = new Date(startAt);
  const df = {
    instanceId,
    get currentUtcDateTime() {
      return now;
    },
    callActivityWithRetry: (name: string, _retry: unknown, input: unknown): Yielded => ({ kind: 'activity', name: name as 'startVmScript', input }),
    createTimer: (fireAt: Date): Yielded => ({ kind: 'timer', fireAt }),
  };
  const context = { df } as unknown as OrchestrationContext;
  const generator = runLongVmScript(context, { cluster: 'c1', node: 'pg1', script: 'rejoin', input: { primary: 'pg2' } });
  const starts: InputOf<'startVmScript'>[] = [];
  const delays: number[] = [];
  const polls = [...answers.polls];
  let next = generator.next();
  try {
    while (!next.done) {
      const task = next.value as unknown as Yielded;
      if (task.kind === 'timer') {
        delays.push(task.fireAt.getTime() - now.getTime());
        now = task.fireAt;
        next = generator.next();
      } else if (task.name === 'startVmScript') {
        const input = task.input as InputOf<'startVmScript'>;
        starts.push(input);
        const run = answers.start?.(input) ?? { vm: 'pg1', script: 'rejoin', runName: input.runName, timeoutSeconds: 60 };
        next = generator.next(run as unknown as Task);
      } else {
        const answer = polls.shift();
        if (!answer) throw new Error('polled more often than the test expected');
        next = generator.next(answer as unknown as Task);
      }
    }
    return { result: next.value, starts, delays, now };
  } catch (error) {
    return { error: error as Error, starts, delays, now };
  }
}

const running: Poll = { state: 'running', executionState: 'Running' };

describe('runLongVmScript: start a long VM script, then poll it with durable timers', () => {
  it('starts once, polls with growing timers, returns the typed result', () => {
    const outcome = drive({ polls: [running, running, running, running, running, running, { state: 'succeeded', result: { method: 'pg_basebackup' } }] });
    expect(outcome.result).toEqual({ method: 'pg_basebackup' });
    expect(outcome.starts).toEqual([{ cluster: 'c1', node: 'pg1', script: 'rejoin', input: { primary: 'pg2' }, runName: vmScriptRunName('rejoin', 'op-1', 'rejoin pg1', new Date('2026-05-01T08:00:00.000Z')) }]);
    expect(outcome.delays).toEqual([1000, 2000, 4000, 8000, MAX_POLL_MS, MAX_POLL_MS, MAX_POLL_MS]);
  });

  it('names the run the same way on every replay, differently for another instance, step or time', () => {
    const name = drive({ polls: [{ state: 'succeeded', result: { method: 'follow' } }] }).starts[0].runName;
    expect(drive({ polls: [{ state: 'succeeded', result: { method: 'follow' } }] }).starts[0].runName).toBe(name);
    expect(drive({ polls: [{ state: 'succeeded', result: { method: 'follow' } }] }, 'op-2').starts[0].runName).not.toBe(name);
    expect(drive({ polls: [{ state: 'succeeded', result: { method: 'follow' } }] }, 'op-1', '2026-05-01T09:00:00.000Z').starts[0].runName).not.toBe(name);
    expect(vmScriptRunName('rejoin', 'op-1', 'rejoin pg3', new Date('2026-05-01T08:00:00.000Z'))).not.toBe(name);
    expect(name).toMatch(/^pgfo-rejoin-[0-9a-f]{32}$/);
    expect(vmScriptRunName('x'.repeat(200), 'i'.repeat(500), 's', new Date(0)).length).toBeLessThanOrEqual(80);
  });

  it('a failed script throws its error: script, VM and why', () => {
    const outcome = drive({ polls: [running, { state: 'failed', error: 'Script rejoin failed on pg1: it reported ok:false (pg_basebackup: could not connect)' }] });
    expect(outcome.error?.message).toBe('Script rejoin failed on pg1: it reported ok:false (pg_basebackup: could not connect)');
    expect(outcome.starts).toHaveLength(1);
  });

  it('a run never seen to end is given up after its own timeout plus the report margin, not waited for forever', () => {
    const outcome = drive({ start: (input) => ({ vm: 'pg1', script: 'rejoin', runName: input.runName, timeoutSeconds: 60 }), polls: Array.from({ length: 100 }, () => running) });
    expect(outcome.error?.message).toMatch(/^Script rejoin on pg1 is still Running 300 s after its own timeout of 60 s \(run command pgfo-rejoin-[0-9a-f]{32}\)/);
    const waitedMs = outcome.delays.reduce((a, b) => a + b, 0);
    expect(waitedMs).toBeGreaterThanOrEqual((60 + REPORT_MARGIN_SECONDS) * 1000);
    expect(waitedMs).toBeLessThan((60 + REPORT_MARGIN_SECONDS) * 1000 + MAX_POLL_MS);
  });

  it('a run gone before its end was seen (read by a look whose answer was lost) is started again once, under a new name', () => {
    const outcome = drive({ polls: [running, { state: 'gone', detail: 'run command x does not exist' }, { state: 'succeeded', result: { method: 'follow' } }] });
    expect(outcome.result).toEqual({ method: 'follow' });
    expect(outcome.starts.map((s) => s.runName)).toEqual([outcome.starts[0].runName, `${outcome.starts[0].runName}-2`]);

    const twice = drive({ polls: [{ state: 'gone', detail: 'first gone' }, { state: 'gone', detail: 'run command y does not exist' }] });
    expect(twice.error?.message).toBe('run command y does not exist');
    expect(twice.starts).toHaveLength(2);
  });
});
