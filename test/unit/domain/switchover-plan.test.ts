import { hasCaughtUp, isReadyToPromote, planSwitchover } from '../../../src/domain/switchover-plan';
import { rankCandidates } from '../../../src/domain/candidates';
import { down, primary, standby, testCluster, view } from '../../support/views';

describe('ranking standbys for promotion', () => {
  const cluster = testCluster((doc) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const nodes = (doc.clusters as any[])[0].nodes;
    nodes[1].priority = 50;
    nodes[2].priority = 200;
  });

  it('prefers the most WAL received, then replayed, then priority, then name', () => {
    expect(rankCandidates([standby('pg2', 'pg1', '0/500'), standby('pg3', 'pg1', '0/400')], cluster.nodes).map((c) => c.name)).toEqual(['pg2', 'pg3']);
    expect(rankCandidates([standby('pg2', 'pg1', '0/500', '0/500'), standby('pg3', 'pg1', '0/500', '0/300')], cluster.nodes).map((c) => c.name)).toEqual(['pg2', 'pg3']);
    expect(rankCandidates([standby('pg2', 'pg1', '0/500'), standby('pg3', 'pg1', '0/500')], cluster.nodes).map((c) => c.name)).toEqual(['pg3', 'pg2']);
  });

  it('counts WAL replayed beyond what the WAL receiver reports (replayed from its own pg_wal) as held', () => {
    expect(rankCandidates([standby('pg2', 'pg1', '0/200', '0/600'), standby('pg3', 'pg1', '0/500', '0/500')], cluster.nodes).map((c) => c.name)).toEqual(['pg2', 'pg3']);
  });

  it('ranks a node held for planned maintenance after one with as much WAL, never before one with more', () => {
    const held = new Set(['pg3']);
    expect(rankCandidates([standby('pg2', 'pg1', '0/500', '0/400'), standby('pg3', 'pg1', '0/500', '0/500')], cluster.nodes, held).map((c) => c.name)).toEqual(['pg2', 'pg3']);
    expect(rankCandidates([standby('pg2', 'pg1', '0/400'), standby('pg3', 'pg1', '0/500')], cluster.nodes, held).map((c) => c.name)).toEqual(['pg3', 'pg2']);
  });

  it('compares positions numerically, across the 32-bit boundary', () => {
    expect(rankCandidates([standby('pg2', 'pg1', '0/FFFFFFFF'), standby('pg3', 'pg1', '1/0')], cluster.nodes)[0].name).toBe('pg3');
  });

  it('ranks a standby without positions last and never offers a noFailover node', () => {
    expect(rankCandidates([standby('pg2', 'pg1', null, null), standby('pg3', 'pg1', '0/1')], cluster.nodes).map((c) => c.name)).toEqual(['pg3', 'pg2']);
    const guarded = testCluster((doc) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (doc.clusters as any[])[0].nodes[2].noFailover = true;
    });
    expect(rankCandidates([standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/9')], guarded.nodes).map((c) => c.name)).toEqual(['pg2']);
  });
});

describe('planning a switchover', () => {
  const cluster = testCluster();
  const healthy = () => view([primary('pg1', '0/1000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/F00'), standby('pg3', 'pg1', '0/1000')]);

  it('picks the best streaming standby and lists the followers', () => {
    const outcome = planSwitchover(cluster, healthy(), {});
    expect(outcome).toEqual({ ok: true, plan: { cluster: 'orders', oldPrimary: 'pg1', candidate: 'pg3', candidateLagBytes: 0, followers: ['pg2'], unreachable: [], primaryLsn: '0/1000' } });
  });

  it('takes the requested target', () => {
    const outcome = planSwitchover(cluster, healthy(), { target: 'pg2' });
    expect(outcome.ok && [outcome.plan.candidate, outcome.plan.candidateLagBytes, outcome.plan.followers]).toEqual(['pg2', 0x100, ['pg3']]);
  });

  it('never chooses a standby held for its planned maintenance, and says so when none is left', () => {
    expect(planSwitchover(cluster, healthy(), {}, new Set(['pg3']))).toMatchObject({ ok: true, plan: { candidate: 'pg2', followers: ['pg3'] } });
    expect(planSwitchover(cluster, healthy(), { target: 'pg3' }, new Set(['pg3']))).toEqual({
      ok: false,
      refusal: { code: 'target-held', reason: 'pg3 is held out of the pools for its planned maintenance: pick another standby, or switch over to it once its maintenance is over' },
    });
    expect(planSwitchover(cluster, healthy(), {}, new Set(['pg2', 'pg3']))).toMatchObject({ ok: false, refusal: { code: 'no-candidate', reason: expect.stringContaining('not held for planned maintenance (pg2, pg3)') } });
  });

  it('goes on without an unreachable standby and reports it', () => {
    const outcome = planSwitchover(cluster, view([primary('pg1', '0/1000', ['pg2']), standby('pg2', 'pg1', '0/1000'), down('pg3')]), {});
    expect(outcome.ok && outcome.plan).toMatchObject({ candidate: 'pg2', followers: [], unreachable: ['pg3'] });
  });

  const refusals: [string, () => ReturnType<typeof planSwitchover>, string, RegExp][] = [
    ['no primary', () => planSwitchover(cluster, view([down('pg1'), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/1')]), {}), 'no-primary', /use failover/],
    ['two primaries', () => planSwitchover(cluster, view([primary('pg1', '0/1'), primary('pg2', '0/1'), standby('pg3', 'pg1', '0/1')]), {}), 'several-primaries', /pg1 and pg2/],
    ['target is the primary', () => planSwitchover(cluster, healthy(), { target: 'pg1' }), 'target-not-standby', /pg1 is not a reachable standby \(it is primary\)/],
    ['target unreachable', () => planSwitchover(cluster, view([primary('pg1', '0/1', ['pg2']), standby('pg2', 'pg1', '0/1'), down('pg3')]), { target: 'pg3' }), 'target-not-standby', /unreachable/],
    ['target not streaming', () => planSwitchover(cluster, view([primary('pg1', '0/1000', ['pg2']), standby('pg2', 'pg1', '0/1000'), standby('pg3', 'pg1', '0/800', '0/800', 'waiting')]), { target: 'pg3' }), 'target-not-streaming', /not streaming from pg1/],
    ['target too far behind', () => planSwitchover(cluster, healthy(), { target: 'pg2', maxLagBytes: 0x10 }), 'target-lagging', /256 bytes behind pg1, more than the 16 allowed/],
    ['every standby too far behind', () => planSwitchover(cluster, view([primary('pg1', '1/0', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/0'), standby('pg3', 'pg1', '0/0')]), {}), 'no-candidate', /within 16777216 bytes/],
  ];

  it.each(refusals)('refuses when %s', (_case, outcome, code, reason) => {
    const result = outcome();
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.refusal.code).toBe(code);
      expect(result.refusal.reason).toMatch(reason);
    }
  });

  it('refuses a noFailover target by name', () => {
    const guarded = testCluster((doc) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (doc.clusters as any[])[0].nodes[1].noFailover = true;
    });
    const result = planSwitchover(guarded, healthy(), { target: 'pg2' });
    expect(!result.ok && result.refusal.code).toBe('target-no-failover');
  });
});

describe('catch-up after the clean stop', () => {
  it('needs WAL received past the start of the shutdown checkpoint record', () => {
    expect(hasCaughtUp(null, '0/3000028')).toBe(false);
    expect(hasCaughtUp('0/3000000', '0/3000028')).toBe(false);
    expect(hasCaughtUp('0/3000028', '0/3000028')).toBe(false);
    expect(hasCaughtUp('0/30000A0', '0/3000028')).toBe(true);
    expect(hasCaughtUp('1/0', '0/FFFFFF00')).toBe(true);
  });

  it('and, before promotion, everything up to it replayed', () => {
    expect(isReadyToPromote({ receivedLsn: '0/30000A0', replayLsn: null }, '0/3000028')).toBe(false);
    expect(isReadyToPromote({ receivedLsn: '0/30000A0', replayLsn: '0/3000000' }, '0/3000028')).toBe(false);
    expect(isReadyToPromote({ receivedLsn: '0/3000028', replayLsn: '0/3000028' }, '0/3000028')).toBe(false);
    expect(isReadyToPromote({ receivedLsn: '0/30000A0', replayLsn: '0/3000028' }, '0/3000028')).toBe(true);
  });
});
