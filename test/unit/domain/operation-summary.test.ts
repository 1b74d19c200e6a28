import { OperationReport } from '../../../src/domain/operation';
import { summarizeOperation, writeAffectingSteps } from '../../../src/domain/operation-summary';
import type { StepRecord } from '../../../src/domain/timeline';

const step = (name: string, durationMs?: number): StepRecord => ({ name, startedAt: '2026-12-05T03:00:00.000Z', result: durationMs === undefined ? 'running' : 'ok', ...(durationMs === undefined ? {} : { durationMs }) });
const names = (steps: StepRecord[]) => steps.map((s) => s.name);

const report = (fields: Partial<OperationReport>): OperationReport => ({ operationId: 'orders-switchover-1', kind: 'switchover', cluster: 'orders', outcome: 'completed', problems: [], steps: [], ...fields });

describe('the steps during which applications could not write', () => {
  it('a completed switchover: from the drain to the repointed load balancer', () => {
    const steps = ['claim cluster', 'inspect cluster', 'drain primary', 'stop primary', 'wait for candidate', 'promote candidate', 'resume application logins', 'repoint load balancer', 'pg3 follows pg2', 'rejoin pg1', 'verify topology'].map((n, i) => step(n, i * 10));
    expect(names(writeAffectingSteps(report({ oldPrimary: 'pg1', steps })))).toEqual(['drain primary', 'stop primary', 'wait for candidate', 'promote candidate', 'resume application logins', 'repoint load balancer']);
  });

  it('an aborted switchover: from the drain to the last undo, which gave the writes back', () => {
    const steps = ['claim cluster', 'inspect cluster', 'drain primary', 'stop primary', 'wait for candidate', 'undo: restart old primary', 'undo: resume application logins'].map((n) => step(n, 5));
    expect(names(writeAffectingSteps(report({ outcome: 'aborted', oldPrimary: 'pg1', steps })))).toEqual(['drain primary', 'stop primary', 'wait for candidate', 'undo: restart old primary', 'undo: resume application logins']);
  });

  it("a failover: from the old primary's fence, not a stray writer's, to the repointed load balancer", () => {
    const steps = ['claim cluster', 'inspect cluster', 'fence pg1: out of the pools', 'stop pg1', 'wait for the standbys', 'choose candidate', 'promote candidate', 'repoint load balancer', 'rejoin pg1'].map((n) => step(n, 7));
    expect(names(writeAffectingSteps(report({ kind: 'failover', oldPrimary: 'pg1', steps })))).toEqual(['fence pg1: out of the pools', 'stop pg1', 'wait for the standbys', 'choose candidate', 'promote candidate', 'repoint load balancer']);
    expect(writeAffectingSteps(report({ kind: 'failover', oldPrimary: 'pg2', steps }))).toEqual([]);
  });

  it('a refusal took nothing away; a running operation has every step from the drain on', () => {
    expect(writeAffectingSteps(report({ outcome: 'refused', steps: [step('claim cluster', 3), step('inspect cluster', 40)] }))).toEqual([]);
    const running = report({ outcome: 'running', oldPrimary: 'pg1', steps: [step('inspect cluster', 40), step('drain primary', 30), step('stop primary')] });
    expect(names(writeAffectingSteps(running))).toEqual(['drain primary', 'stop primary']);
  });

  it('a summary carries the write steps with their durations (null while one runs) and the reason', () => {
    const running = report({ outcome: 'running', oldPrimary: 'pg1', newPrimary: 'pg2', steps: [step('drain primary', 30), step('stop primary')] });
    expect(summarizeOperation(running, 'http', '2026-12-05T03:00:00.000Z')).toEqual({
      operationId: 'orders-switchover-1',
      kind: 'switchover',
      trigger: 'http',
      startedAt: '2026-12-05T03:00:00.000Z',
      outcome: 'running',
      reason: null,
      oldPrimary: 'pg1',
      newPrimary: 'pg2',
      writeSteps: [{ name: 'drain primary', durationMs: 30 }, { name: 'stop primary', durationMs: null }],
      problems: [],
    });
  });
});
