import { MAX_NODES } from '../../../src/config/schema';
import { HealthAction, HealthState, initialHealthState, maintenanceApplied, RECENT_REQUEST_IDS, setMaintenance } from '../../../src/domain/health';
import { holdForApproval, MAX_HOLDS } from '../../../src/domain/maintenance-hold';
import { OperationReport } from '../../../src/domain/operation';
import { clipText, CUSTOM_STATUS_MAX_CHARS, fitHealthState, fitOperationReport, jsonLength } from '../../../src/domain/status-size';
import { StepRecord } from '../../../src/domain/timeline';

/**
 * What the app publishes as a custom status must stay within the extension's limit (JSON of at most
 * 8703 UTF-16 code units; docs/azure-platform.md item 6) whatever it holds: built here at its worst.
 */
const EXTENSION_LIMIT_CHARS = 8703;
const huge = (what: string, chars = 20_000) => `${what}: ${'é—x'.repeat(chars / 3)}`;
const name = (i: number) => `n${String(i).padStart(2, '0')}-${'a'.repeat(59)}`; // 63 characters, the longest node name
const at = (s: number) => new Date(Date.parse('2026-05-01T10:00:00.000Z') + s * 1000).toISOString();

describe('the monitor state', () => {
  function worstState(): HealthState {
    const nodes = Array.from({ length: MAX_NODES }, (_, i) => name(i));
    let state: HealthState = { ...initialHealthState('c'.repeat(63)), execution: 2 ** 31, observations: 2 ** 40, staleObservations: 2 ** 40, consecutiveFailures: 2 ** 31 };
    // Maintenance requests with the longest ids a caller could send, more of them than are kept.
    for (let i = 0; i < RECENT_REQUEST_IDS + 5; i++) {
      state = setMaintenance(state, { enabled: true, at: at(i), by: huge('by'), reason: huge('reason'), requestId: `${i}-${'r'.repeat(200)}` });
    }
    const action = (kind: HealthAction['kind']): HealthAction =>
      kind === 'failover'
        ? { kind, reason: huge('failover reason') }
        : kind === 'rejoin' || kind === 'repoint'
          ? { kind, node: nodes[1], primary: nodes[0], reason: huge(`${kind} reason`) }
          : { kind, node: nodes[1], reason: huge(`${kind} reason`) };
    return {
      ...state,
      failingSince: at(1),
      autoFailoverFor: at(1),
      actedAt: at(2),
      primary: { name: nodes[0], lsn: 'FFFFFFFF/FFFFFFFF', timeline: 2 ** 31, at: at(3) },
      // Every other node waits to rejoin (the primary never does).
      pendingRejoin: nodes.slice(1).map((node) => ({ node, primary: nodes[0], since: at(4), attempts: 2 ** 31, lastAttemptAt: at(5), standby: true })),
      // As many nodes held for maintenance as there may be.
      maintenanceHolds: nodes.slice(-MAX_HOLDS).map((node) => holdForApproval({ node, trigger: { kind: 'scheduled-event', eventId: 'E'.repeat(64), eventType: 'Terminate' }, approvedAt: at(9), serverStartedAt: at(0) })),
      lastOperation: { operationId: `${'c'.repeat(63)}-failover-vm-event-${'f'.repeat(16)}`, kind: 'failover', startedAt: at(6), reason: huge('operation reason'), started: true },
      lastAction: { kind: 'rejoin', node: nodes[1], at: at(7), ok: false, detail: huge('Run Command output') },
      lastCheck: {
        at: at(8),
        verdict: 'unreachable-but-streaming',
        summary: huge('summary'),
        findings: Array.from({ length: 200 }, (_, i) => huge(`finding ${i}`, 3000)),
        action: action('rejoin'),
        suppressed: { action: action('failover'), because: huge('because') },
      },
    };
  }

  it('fits the limit at its worst, and keeps every field a decision reads', () => {
    const worst = worstState();
    expect(jsonLength(worst)).toBeGreaterThan(100_000);
    const fitted = fitHealthState(worst);
    expect(jsonLength(fitted)).toBeLessThanOrEqual(CUSTOM_STATUS_MAX_CHARS);
    expect(jsonLength(fitted)).toBeLessThanOrEqual(EXTENSION_LIMIT_CHARS);
    const decisive = ['cluster', 'consecutiveFailures', 'failingSince', 'primary', 'pendingRejoin', 'maintenanceHolds', 'autoFailoverFor', 'actedAt', 'observations', 'staleObservations', 'lastRequestId', 'recentRequestIds', 'execution'] as const;
    for (const field of decisive) expect(fitted[field]).toEqual(worst[field]);
    expect(fitted.maintenance).toMatchObject({ enabled: true, changedAt: worst.maintenance.changedAt });
    expect(fitted.pendingRejoin).toHaveLength(MAX_NODES - 1);
    expect(fitted.recentRequestIds).toHaveLength(RECENT_REQUEST_IDS);
    expect(fitted.lastOperation?.operationId).toBe(worst.lastOperation?.operationId);
    expect(fitted.lastCheck?.action).toMatchObject({ kind: 'rejoin', node: name(1), primary: name(0) });
    // Fitting again changes nothing (the monitor fits after every event).
    expect(fitHealthState(fitted)).toEqual(fitted);
  });

  it('leaves a state that fits as it is', () => {
    const state = setMaintenance(initialHealthState('orders'), { enabled: true, at: at(0), by: 'http', reason: 'kernel update', requestId: 'r1' });
    expect(fitHealthState(state)).toEqual(state);
  });

  it('applies a maintenance request once, however often it is sent', () => {
    const on = setMaintenance(initialHealthState('orders'), { enabled: true, at: at(0), by: 'http', reason: 'first', requestId: 'a' });
    const off = setMaintenance(on, { enabled: false, at: at(1), by: 'http', reason: 'second', requestId: 'b' });
    // "a" sent again after "b" was applied: it must not switch maintenance back on.
    expect(setMaintenance(off, { enabled: true, at: at(2), by: 'http', reason: 'first', requestId: 'a' })).toBe(off);
    expect(maintenanceApplied(off, 'a')).toBe(true);
    expect(off).toMatchObject({ maintenance: { enabled: false, reason: 'second' }, lastRequestId: 'b', recentRequestIds: ['a', 'b'] });
  });
});

describe('an operation report', () => {
  function worstReport(steps: number): OperationReport {
    const step = (i: number): StepRecord => ({
      name: `${name(i % MAX_NODES)} follows ${name((i + 1) % MAX_NODES)} ${huge('step', 300)}`,
      startedAt: at(i),
      durationMs: 2 ** 31,
      result: i % 2 ? 'failed' : 'ok',
      detail: i % 2 ? { error: clipText(huge('error'), 400) } : { plan: Array.from({ length: 50 }, (_, j) => ({ node: name(j % MAX_NODES), lsn: 'FFFFFFFF/FFFFFFFF' })) },
    });
    return {
      operationId: `${'c'.repeat(63)}-switchover-20260501T100000Z-abcdef`,
      kind: 'switchover',
      cluster: 'c'.repeat(63),
      outcome: 'running',
      reason: huge('reason'),
      oldPrimary: name(0),
      newPrimary: name(1),
      rejoinMethod: 'pg_basebackup',
      currentStep: huge('current step', 600),
      problems: Array.from({ length: 60 }, (_, i) => clipText(huge(`problem ${i}`), 400)),
      steps: Array.from({ length: steps }, (_, i) => step(i)),
    };
  }

  it.each([3, 30, 200])('fits the limit at its worst (%i steps)', (steps) => {
    const report = worstReport(steps);
    const fitted = fitOperationReport(report);
    expect(jsonLength(fitted)).toBeLessThanOrEqual(CUSTOM_STATUS_MAX_CHARS);
    expect(fitted).toMatchObject({ operationId: report.operationId, kind: 'switchover', cluster: report.cluster, outcome: 'running' });
    // The latest step is always shown.
    expect(fitted.steps.at(-1)?.startedAt).toBe(report.steps.at(-1)?.startedAt);
  });

  it('leaves a report that fits as it is', () => {
    const report: OperationReport = { operationId: 'o-switchover-1', kind: 'switchover', cluster: 'o', outcome: 'running', problems: [], steps: [{ name: 'inspect cluster', startedAt: at(0), result: 'ok', durationMs: 5, detail: { candidate: 'pg2' } }] };
    expect(fitOperationReport(report)).toBe(report);
  });

  it('shrinks in steps: texts and details first, then fewer problems and steps, with a marker', () => {
    const report = worstReport(30);
    const fitted = fitOperationReport(report);
    expect(fitted.steps.length).toBeLessThan(30);
    expect(fitted.steps.some((s) => /step\(s\) not shown/.test(s.name))).toBe(true);
    expect(fitted.problems.at(-1)).toMatch(/more problem\(s\): see the report when the operation ends$/);
  });
});
