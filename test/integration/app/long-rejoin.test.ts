import { LocalStack } from '../../../harness/local/stack';
import { FaultyGuest } from '../../support/faults';
import { switchoverUnderLoad } from '../../support/operations';
import { startTestStack } from '../../support/stack';

/** Far below host.json's 10 minutes, so that a rejoin can outlast it in a test. */
const FUNCTION_TIMEOUT = '00:00:05';
const REJOIN_DELAY_MS = 15_000;

/**
 * host.json functionTimeout bounds every activity attempt (docs/azure-platform.md item 4); a
 * rejoin copying a big database outlasts it. The rejoin must not run inside one activity: the
 * orchestration starts it and waits for it with durable timers, so the switchover completes with
 * the old primary rejoined, the rejoin script ran once, and no attempt timed out.
 */
describe('a rejoin that takes longer than functionTimeout', () => {
  const guest = new FaultyGuest();
  const logLines: string[] = [];
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('20.7', { executor: guest.executor, functionTimeout: FUNCTION_TIMEOUT, log: (line) => logLines.push(line) });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('switches over under a write load; the old primary is rejoined by one script run, no activity attempt timed out', async () => {
    const rejoinRuns = () => stack.azure.record.executions.filter((e) => e.vm === 'pg1' && /^# =+ rejoin\.sh$/m.test(e.scriptText));
    const fast = guest.slowScript('pg1', 'rejoin', REJOIN_DELAY_MS);
    try {
      const { report, lost } = await switchoverUnderLoad(stack, { target: 'pg2' });
      expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2', rejoinMethod: 'follow', problems: [] });
      expect(report.steps.every((s) => s.result === 'ok')).toBe(true);
      const rejoin = report.steps.find((s) => s.name === 'rejoin pg1');
      expect(rejoin).toMatchObject({ result: 'ok' });
      expect(rejoin!.durationMs).toBeGreaterThanOrEqual(REJOIN_DELAY_MS);
      expect(report.steps.find((s) => s.name === 'pg1 into read pool')).toMatchObject({ result: 'ok' });
      expect(lost).toEqual([]);

      // One script, started once as a managed Run Command and deleted once its end was read.
      expect(rejoinRuns()).toMatchObject([{ kind: 'managed', state: 'finished', exitCode: 0 }]);
      const runName = rejoinRuns()[0].runCommandName!;
      expect(stack.azure.record.requests.filter((r) => r.method === 'PUT' && r.url.includes(`/runCommands/${runName}?`) && r.status < 300)).toHaveLength(1);
      expect(stack.azure.record.requests.filter((r) => r.method === 'DELETE' && r.url.includes(`/runCommands/${runName}?`))).toHaveLength(1);
      expect(logLines.filter((line) => line.includes('activity.timedOut'))).toEqual([]);

      const status = await stack.lab.waitUntilHealthy();
      expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual(['pg2']);
      expect(new Set(status.nodes.map((n) => n.timeline)).size).toBe(1);
      expect(status.ilb.writePool).toEqual(['pg2']);
      expect([...status.ilb.readPool].sort()).toEqual(['pg1', 'pg3']);
    } finally {
      fast();
    }
  });
});
