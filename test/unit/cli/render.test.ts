import { renderHistory } from '../../../cli/history-command';
import { renderClusterStatus } from '../../../cli/status-command';
import { summarizeHealth } from '../../../src/domain/health-summary';
import type { OperationSummary } from '../../../src/domain/operation-summary';
import { down, primary, standby, view } from '../../support/views';
import { observe, run } from '../domain/health-support';

/** The rows of a cli-table3 table (borderless style), cells trimmed. */
const rows = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.includes('│'))
    .map((line) => line.split('│').slice(1, -1).map((cell) => cell.trim()));

describe('pg-failover status', () => {
  it("one row per node with the lag behind the primary, streaming, pool and what the health check holds; the verdict below", () => {
    const nodes = [primary('pg1', '0/3000100', ['pg2']), standby('pg2', 'pg1', '0/3000100', '0/3000000'), down('pg3')];
    const { state } = run([observe(0, nodes)]);
    const text = renderClusterStatus({ ...view(nodes), pools: { write: ['pg1'], read: ['pg2'] }, health: summarizeHealth(state) });
    expect(rows(text)).toEqual([
      ['node', 'host', 'role', 'timeline', 'LSN', 'lag (bytes)', 'streaming', 'pool', 'health'],
      ['pg1', '10.0.1.11:5432', 'primary', '1', '0/3000100', '0', '-', 'write', 'ok'],
      ['pg2', '10.0.1.12:5432', 'standby', '1', '0/3000000', '256', 'yes', 'read', 'ok'],
      ['pg3', '10.0.1.13:5432', 'down', '-', '-', '-', '-', '-', 'unreachable: connection refused'],
    ]);
    expect(text).toContain(`health: ${state.lastCheck?.verdict.toUpperCase()} — ${state.lastCheck?.summary} (checked 2026-05-01T10:00:00.000Z)`);
    expect(state.lastCheck?.verdict).toBe('degraded');
  });

  it('says when no check has run, when maintenance mode is on, and which nodes are held', () => {
    const nodes = [primary('pg1', '0/3000000', ['pg2']), standby('pg2', 'pg1', '0/3000000')];
    const health = { verdict: null, summary: null, checkedAt: null, findings: [], suppressed: null, maintenance: true, heldNodes: ['pg2'], pendingRejoins: [] };
    const text = renderClusterStatus({ ...view(nodes), pools: { write: ['pg1'], read: [] }, health });
    expect(rows(text)[2]).toEqual(['pg2', '10.0.1.12:5432', 'standby', '1', '0/3000000', '0', 'yes', '-', 'held for maintenance']);
    expect(text).toContain('health: no health check has run yet');
    expect(text).toContain('maintenance mode ON: the health check reports but never acts');
  });
});

describe('pg-failover history', () => {
  const summary = (fields: Partial<OperationSummary>): OperationSummary => ({
    operationId: 'orders-switchover-20261205T030000Z-abcdef',
    kind: 'switchover',
    trigger: 'http',
    startedAt: '2026-12-05T03:00:00.000Z',
    outcome: 'completed',
    reason: null,
    oldPrimary: 'pg1',
    newPrimary: 'pg2',
    writeSteps: [],
    problems: [],
    ...fields,
  });

  it('one row per operation, in the order given: write steps with their total, the reason of one that did not complete', () => {
    const text = renderHistory({
      operations: [
        summary({ writeSteps: [{ name: 'drain primary', durationMs: 39 }, { name: 'repoint load balancer', durationMs: 12 }], problems: ['pg3 is not streaming from pg2'] }),
        summary({ operationId: 'orders-failover-vm-event-0123456789abcdef', kind: 'failover', trigger: 'health-check', outcome: 'refused', reason: 'pg1 answers: not dead', newPrimary: null }),
      ],
      nextCursor: null,
    });
    expect(rows(text)).toEqual([
      ['operation', 'kind', 'trigger', 'started', 'outcome', 'old → new', 'write-affecting steps', 'problems'],
      ['orders-switchover-20261205T030000Z-abcdef', 'switchover', 'http', '2026-12-05 03:00:00Z', 'completed', 'pg1 → pg2', 'drain primary 39 ms', 'pg3 is not streaming from pg2'],
      ['', '', '', '', '', '', 'repoint load balancer 12 ms', ''],
      ['', '', '', '', '', '', 'total 51 ms', ''],
      ['orders-failover-vm-event-0123456789abcdef', 'failover', 'health-check', '2026-12-05 03:00:00Z', 'refused', 'pg1 → -', '-', 'pg1 answers: not dead'],
    ]);
  });

  it('an empty history says so', () => {
    expect(renderHistory({ operations: [], nextCursor: null })).toBe('no operations');
  });
});
