import { holdForMaintenance, initialHealthState, maintenanceApplied } from '../../../src/domain/health';
import { holdForApproval, holdRequestId, HOLD_AFTER_PAUSE_MARGIN_MS, HOLD_MAX_MS, MAX_HOLDS, MaintenanceHold } from '../../../src/domain/maintenance-hold';
import { primary, SERVER_STARTED_AT, standby } from '../../support/views';
import { at, observe, restartedAt, run, T0 } from './health-support';

/**
 * A node approved for planned maintenance stays out of the pools until the maintenance is over:
 * the health check does not put it back into the read pool (nor rejoin or re-point it) while its
 * hold lasts — until its PostgreSQL has restarted (Reboot, Redeploy, guest shutdown) or its
 * pause is over (Freeze) — and judges it like any other node afterwards.
 */
const reboot = (node: string, seconds = 0, serverStartedAt: string | null = SERVER_STARTED_AT): MaintenanceHold =>
  holdForApproval({ node, trigger: { kind: 'scheduled-event', eventId: 'E-1', eventType: 'Reboot' }, approvedAt: at(seconds), serverStartedAt });
const freeze = (node: string, durationSeconds?: number): MaintenanceHold =>
  holdForApproval({ node, trigger: { kind: 'scheduled-event', eventId: 'E-2', eventType: 'Freeze' }, approvedAt: at(0), serverStartedAt: SERVER_STARTED_AT, durationSeconds });
const holding = (...holds: MaintenanceHold[]) => holds.reduce((state, hold, i) => holdForMaintenance(state, hold, `req-${i}`), initialHealthState('orders'));

/** pg2 streams from pg1 but was taken out of the read pool by its approval. */
const outOfReadPool = (seconds: number, pg2 = standby('pg2', 'pg1', '0/3000000')) =>
  observe(seconds, [primary('pg1', '0/3000000', ['pg2', 'pg3']), pg2, standby('pg3', 'pg1', '0/3000000')], { read: ['pg3'] });

describe('maintenance holds: what an approval holds', () => {
  it('a reboot lasts until PostgreSQL restarts (at most HOLD_MAX_MS); a freeze its duration plus a margin', () => {
    expect(reboot('pg2')).toEqual({ node: 'pg2', event: 'Reboot', since: SERVER_STARTED_AT, until: new Date(T0 + HOLD_MAX_MS).toISOString() });
    expect(freeze('pg2', 9).until).toBe(new Date(T0 + 9_000 + HOLD_AFTER_PAUSE_MARGIN_MS).toISOString());
    expect(freeze('pg2', -1).until).toBe(new Date(T0 + 30_000 + HOLD_AFTER_PAUSE_MARGIN_MS).toISOString());
    const shutdown = holdForApproval({ node: 'pg3', trigger: { kind: 'shutdown', requestId: 'boot-1' }, approvedAt: at(0), serverStartedAt: null });
    // It did not answer at the approval: a start after the approval time ends it.
    expect(shutdown).toMatchObject({ event: 'shutdown', since: at(0) });
  });

  it('is recorded once per request, one per node (a newer approval replaces the older one)', () => {
    const once = holdForMaintenance(initialHealthState('orders'), reboot('pg2'), 'hold-a');
    expect(holdForMaintenance(once, reboot('pg2', 50), 'hold-a')).toBe(once);
    expect(maintenanceApplied(once, 'hold-a')).toBe(true);
    const replaced = holdForMaintenance(once, freeze('pg2', 9), 'hold-b');
    expect(replaced.maintenanceHolds).toEqual([freeze('pg2', 9)]);
    expect(holdForMaintenance(replaced, reboot('pg3'), 'hold-c').maintenanceHolds.map((h) => h.node)).toEqual(['pg2', 'pg3']);
  });

  it('holds at most MAX_HOLDS nodes: the oldest gives way (the published state stays within its limit)', () => {
    const nodes = Array.from({ length: MAX_HOLDS + 2 }, (_, i) => `n${i}`);
    const state = holding(...nodes.map((node) => reboot(node)));
    expect(state.maintenanceHolds.map((h) => h.node)).toEqual(nodes.slice(2));
  });

  it('has one request id per node and trigger, whatever the case of the EventId', () => {
    const event = (eventId: string) => ({ kind: 'scheduled-event' as const, eventId, eventType: 'Reboot' as const });
    expect(holdRequestId('pg2', event('abc-1'))).toBe(holdRequestId('pg2', event('ABC-1')));
    expect(holdRequestId('pg2', event('abc-1'))).not.toBe(holdRequestId('pg3', event('abc-1')));
    expect(holdRequestId('pg2', event('abc-1'))).not.toBe(holdRequestId('pg2', { kind: 'shutdown', requestId: 'abc-1' }));
  });
});

describe('health verdict: a node held for maintenance', () => {
  it('is not put back into the read pool while it streams and waits for its reboot (the case S4 used to get wrong)', () => {
    expect(run([outOfReadPool(10)]).last.action).toMatchObject({ kind: 'read-pool', node: 'pg2' }); // without a hold
    const { last, state } = run([outOfReadPool(10)], holding(reboot('pg2')));
    expect(last).toMatchObject({ verdict: 'degraded', action: null });
    expect(last.findings).toEqual([`pg2 is held out of the pools for its maintenance (Reboot) until its PostgreSQL has restarted (at the latest ${reboot('pg2').until}): left alone`]);
    expect(state.maintenanceHolds).toEqual([reboot('pg2')]);
  });

  it('is neither re-pointed nor rejoined while held', () => {
    const misplaced = standby('pg2', 'pg3', '0/3000000', '0/3000000', 'waiting');
    expect(run([outOfReadPool(10, misplaced)]).last.action?.kind).toBe('repoint');
    expect(run([outOfReadPool(10, misplaced)], holding(reboot('pg2'))).last.action).toBeNull();
    // A former primary switched away from for its maintenance, whose rejoin has not happened yet.
    const formerPrimary = run([observe(0, [primary('pg2', '0/3000000', ['pg1', 'pg3']), standby('pg1', 'pg2', '0/3000000'), standby('pg3', 'pg2', '0/3000000')], { write: ['pg2'], read: ['pg1', 'pg3'] })]).state;
    const switchedAway = [primary('pg1', '0/4000000', ['pg3']), standby('pg2', 'pg9', '0/3000000', '0/3000000', 'waiting'), standby('pg3', 'pg1', '0/4000000')];
    expect(run([observe(10, switchedAway, { read: ['pg3'] })], formerPrimary).last.action).toMatchObject({ kind: 'rejoin', node: 'pg2' });
    const held = { ...formerPrimary, maintenanceHolds: [reboot('pg2', 5)] };
    expect(run([observe(10, switchedAway, { read: ['pg3'] })], held).last).toMatchObject({ action: null, findings: [expect.stringMatching(/^pg2 is held out of the pools/)] });
  });

  it('is back once its PostgreSQL has restarted: the same check puts it into the read pool', () => {
    const { last, state } = run([outOfReadPool(10), outOfReadPool(60, restartedAt(standby('pg2', 'pg1', '0/3000000'), 55))], holding(reboot('pg2')));
    expect(last.action).toMatchObject({ kind: 'read-pool', node: 'pg2' });
    expect(last.findings[0]).toBe(`pg2 is back from its maintenance (Reboot; PostgreSQL started again at ${at(55)}): it may serve again`);
    expect(state.maintenanceHolds).toEqual([]);
  });

  it('when it did not answer at the approval, only a start after the approval counts', () => {
    const unknownStart = holding(reboot('pg2', 20, null));
    expect(run([outOfReadPool(30, restartedAt(standby('pg2', 'pg1', '0/3000000'), 10))], unknownStart).last.action).toBeNull();
    expect(run([outOfReadPool(30, restartedAt(standby('pg2', 'pg1', '0/3000000'), 25))], unknownStart).last.action).toMatchObject({ kind: 'read-pool', node: 'pg2' });
  });

  it('a freeze is over after its duration plus the margin, not before (nothing restarts)', () => {
    const state = holding(freeze('pg2', 9));
    const end = (9_000 + HOLD_AFTER_PAUSE_MARGIN_MS) / 1000;
    expect(run([outOfReadPool(end - 1)], state).last.action).toBeNull();
    const over = run([outOfReadPool(end)], state);
    expect(over.last.action).toMatchObject({ kind: 'read-pool', node: 'pg2' });
    expect(over.last.findings[0]).toBe(`pg2's Freeze is over: it may serve again`);
  });

  it('expires after HOLD_MAX_MS even without a restart, and is dropped for a node no longer in the cluster', () => {
    const expired = run([outOfReadPool(HOLD_MAX_MS / 1000)], holding(reboot('pg2')));
    expect(expired.last.findings[0]).toMatch(/^pg2's maintenance hold \(Reboot\) expired without its PostgreSQL restarting/);
    expect(expired.state.maintenanceHolds).toEqual([]);
    expect(run([outOfReadPool(10)], holding(reboot('pg7'))).state.maintenanceHolds).toEqual([]);
  });

  it('does not keep a held node that comes back writable from being fenced (S2)', () => {
    const { last } = run([observe(10, [primary('pg1', '0/3000000', ['pg3']), primary('pg2', '0/3000000'), standby('pg3', 'pg1', '0/3000000')], { read: ['pg3'] })], holding(reboot('pg2')));
    expect(last.action).toMatchObject({ kind: 'fence', node: 'pg2' });
  });
});
