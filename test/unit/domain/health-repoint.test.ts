import { initialHealthState, recordAction, rejoinInstead, REJOIN_RETRY_MS, setMaintenance } from '../../../src/domain/health';
import { placeStandby } from '../../../src/domain/standby-placement';
import { down, hostOf, primary, standby } from '../../support/views';
import { at, healthyNodes, observe, onTimeline, run } from './health-support';

/**
 * S4 in the health check: a standby that streams from anything but the write pool's primary — or
 * whose primary_conninfo names another node, or that does not stream at all — is brought back to
 * the primary, within the loss rules: re-pointed (follow) only on the primary's timeline, rejoined
 * (follow, else pg_rewind) from an older one, never touched from a newer one.
 */
describe('health verdict: standbys that do not stream from the primary (S4)', () => {
  // After a switchover pg1 → pg2 (timeline 2): pg1 rejoined as a standby of pg2; pg3's follow step
  // did not happen (killed meanwhile), so after its restart it still follows pg1 — now a standby.
  const afterSwitchover = (pg3 = onTimeline(standby('pg3', 'pg1', '0/4000000'), 2)) =>
    observe(100, [onTimeline(standby('pg1', 'pg2', '0/4000000'), 2), onTimeline(primary('pg2', '0/4000000', ['pg1']), 2), pg3], { write: ['pg2'], read: ['pg1', 'pg3'] });
  const known = () => run([observe(90, [onTimeline(standby('pg1', 'pg2', '0/4000000'), 2), onTimeline(primary('pg2', '0/4000000', ['pg1', 'pg3']), 2), onTimeline(standby('pg3', 'pg2', '0/4000000'), 2)], { write: ['pg2'], read: ['pg1', 'pg3'] })]).state;

  it('re-points a standby that streams from the old primary, now itself a standby (cascading), on the primary timeline', () => {
    const { last, state } = run([afterSwitchover()], known());
    expect(last).toMatchObject({
      verdict: 'degraded',
      action: { kind: 'repoint', node: 'pg3', primary: 'pg2', reason: `pg3 does not stream from pg2 (it streams from ${hostOf('pg1')}:5432; primary_conninfo names ${hostOf('pg1')}:5432): re-point it (same timeline 2, nothing to undo)` },
    });
    expect(state.pendingRejoin).toEqual([]);
  });

  it('re-points one that streams from the primary but whose primary_conninfo names another node (its next reconnect would leave)', () => {
    const pg3 = { ...standby('pg3', 'pg1', '0/3000000'), primaryConninfo: { host: hostOf('pg2'), port: 5432 } };
    const { last } = run([observe(0, [primary('pg1', '0/3000000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/3000000'), pg3])]);
    expect(last.action).toMatchObject({ kind: 'repoint', node: 'pg3', reason: expect.stringMatching(/^pg3 streams from pg1 but its primary_conninfo names 10\.0\.1\.12:5432/) });
  });

  it('re-points one whose primary_conninfo names no host, and judges one whose setting cannot be read by what it streams from', () => {
    const empty = { ...standby('pg3', 'pg1', '0/3000000', '0/3000000', 'stopping'), walReceiver: null, primaryConninfo: { host: null, port: null } };
    expect(run([observe(0, [primary('pg1', '0/3000000', ['pg2']), standby('pg2', 'pg1', '0/3000000'), empty])]).last.action).toMatchObject({
      kind: 'repoint',
      reason: expect.stringContaining('(WAL receiver not running; primary_conninfo names no host)'),
    });
    const unreadable = { ...standby('pg3', 'pg1', '0/3000000'), primaryConninfo: null };
    expect(run([observe(0, [primary('pg1', '0/3000000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/3000000'), unreadable])]).last).toMatchObject({ verdict: 'healthy', action: null });
  });

  it('rejoins one on an older timeline (it may be past the fork point): the rejoin path, with its back-off', () => {
    const oldTimeline = standby('pg3', 'pg1', '0/4000100', '0/4000100', 'waiting'); // timeline 1, pg2 is on 2
    const { last, state } = run([afterSwitchover(oldTimeline)], known());
    expect(last.action).toEqual({
      kind: 'rejoin',
      node: 'pg3',
      primary: 'pg2',
      reason: expect.stringMatching(/^pg3 does not stream from pg2 \(WAL receiver waiting.*\), on timeline 1 \(pg2 is on 2\): it may be past the fork point, so it is rejoined \(follow when it can, else pg_rewind\)$/),
    });
    expect(last.verdict).toBe('degraded');
    expect(last.findings).toEqual([last.action!.reason]);
    expect(state.pendingRejoin).toEqual([{ node: 'pg3', primary: 'pg2', since: at(100), attempts: 0, lastAttemptAt: null, standby: true }]);
    const attempted = recordAction(state, last.action!, { at: at(101), ok: true, detail: 'started' });
    const soon = run([{ ...afterSwitchover(oldTimeline), startedAt: at(110) }], attempted).last;
    expect(soon.action).toBeNull();
    expect(soon.findings).toContain(`pg3 (standby to rejoin) is not streaming yet; the next rejoin attempt is due ${REJOIN_RETRY_MS / 1000 - 9} s from now`);
  });

  it('never re-points or rewinds one on a NEWER timeline than the primary: that would throw its WAL away (loss rule)', () => {
    const newer = onTimeline(standby('pg3', 'pg9', '0/5000000', '0/5000000', 'waiting'), 3);
    const { last, state } = run([afterSwitchover(newer)], known());
    expect(last).toMatchObject({ verdict: 'degraded', action: null });
    expect(last.findings).toContain(
      `pg3 does not stream from pg2 (WAL receiver waiting; primary_conninfo names ${hostOf('pg9')}:5432), and it is on timeline 3, newer than pg2's 2: following pg2 would rewind that timeline's WAL away, so it is not re-pointed automatically (an interrupted failover? resolve by hand)`,
    );
    expect(state.pendingRejoin).toEqual([]);
  });

  it('leaves a standby being rejoined alone, and a second writer is fenced before any re-point (S2)', () => {
    const misplaced = standby('pg3', 'pg2', '0/3000000');
    expect(run([observe(0, [primary('pg1', '0/3000000', ['pg2']), standby('pg2', 'pg1', '0/3000000'), misplaced], { rejoining: ['pg3'] })]).last).toMatchObject({
      action: null,
      findings: ['pg3 is being rejoined as a standby of pg1'],
    });
    const stray = primary('pg2', '0/3000000');
    expect(run([observe(0, [primary('pg1', '0/3000000'), stray, misplaced], { read: ['pg3'] })]).last.action).toMatchObject({ kind: 'fence', node: 'pg2' });
  });

  it('does not act while an operation runs or in maintenance mode (reported, suppressed)', () => {
    expect(run([afterSwitchover()], known()).last.action?.kind).toBe('repoint');
    expect(run([{ ...afterSwitchover(), operation: { operationId: 'orders-switchover-2', kind: 'switchover' } }], known()).last).toMatchObject({ verdict: 'operation-running', action: null });
    const paused = setMaintenance(known(), { enabled: true, at: at(95), by: 'http' });
    expect(run([afterSwitchover()], paused).last).toMatchObject({ action: null, suppressed: { action: { kind: 'repoint', node: 'pg3' } } });
  });

  it('a re-point that could not make it stream hands the standby to the rejoin path', () => {
    const { last, state } = run([afterSwitchover()], known());
    const failed = rejoinInstead(recordAction(state, last.action!, { at: at(130), ok: false, detail: 'not streaming after 30s' }), 'pg3', 'pg2', at(130));
    expect(failed).toMatchObject({ lastAction: { kind: 'repoint', node: 'pg3', ok: false }, pendingRejoin: [{ node: 'pg3', primary: 'pg2', standby: true, attempts: 0 }] });
    expect(rejoinInstead(failed, 'pg3', 'pg2', at(131))).toBe(failed);
    // The next check (once its rejoin ran) puts it back into the read pool when it streams from pg2, then forgets it.
    const streaming = onTimeline(standby('pg3', 'pg2', '0/4000000'), 2);
    const back = run([{ ...afterSwitchover(streaming), startedAt: at(140) }], failed);
    expect(back.last).toMatchObject({ verdict: 'healthy', action: null });
    expect(back.state.pendingRejoin).toEqual([]);
  });

  it('an unreachable standby is only reported', () => {
    expect(run([observe(0, [primary('pg1', '0/3000000', ['pg2']), standby('pg2', 'pg1', '0/3000000'), down('pg3')])]).last).toMatchObject({ action: null, findings: ['pg3 is unreachable: connection refused'] });
    expect(run([observe(0, healthyNodes())], initialHealthState('orders')).last.verdict).toBe('healthy');
  });
});

describe('placeStandby', () => {
  const pg1 = primary('pg1', '0/3000000', ['pg2']);

  it('a standby streaming from the primary with its primary_conninfo naming it is in place (a missing port is the default)', () => {
    expect(placeStandby(standby('pg2', 'pg1', '0/3000000'), pg1)).toEqual({ kind: 'in-place' });
    expect(placeStandby({ ...standby('pg2', 'pg1', '0/3000000'), primaryConninfo: { host: hostOf('pg1'), port: null } }, pg1)).toEqual({ kind: 'in-place' });
    expect(placeStandby({ ...standby('pg2', 'pg1', '0/3000000'), primaryConninfo: { host: hostOf('pg1'), port: 5433 } }, pg1).kind).toBe('repoint');
  });

  it('is still catching up on the old timeline from the primary itself: left in place', () => {
    expect(placeStandby(standby('pg2', 'pg1', '0/2000000'), onTimeline(pg1, 2))).toEqual({ kind: 'in-place' });
  });
});
