import { standbysStreamingFrom } from '../../../src/domain/cluster-view';
import { chooseFailoverCandidate, FailoverRequest, identifyOldPrimary, lossReference, LossReference } from '../../../src/domain/failover';
import { KnownPrimary } from '../../../src/domain/health';
import { NodeInspection, ReachableNode } from '../../../src/domain/node-state';
import { down, primary, standby, testCluster, view } from '../../support/views';

// maxLagBytesForFailover: 1 MiB (0x100000) by default.
const cluster = testCluster();
const known: KnownPrimary = { name: 'pg1', lsn: '0/3000000', timeline: 1, at: '2026-05-01T10:00:00.000Z' };
const request = (fields: Partial<FailoverRequest> = {}): FailoverRequest => ({ reason: 'test', ...fields });
const pools = (nodes: NodeInspection[], write: string[]) => ({ ...view(nodes), pools: { write, read: ['pg2', 'pg3'] } });
const afterDeath = (pg2 = '0/3000000', pg3 = '0/2F00000') => view([down('pg1'), standby('pg2', 'pg1', pg2, pg2, 'waiting'), standby('pg3', 'pg1', pg3, pg3, 'waiting')]);

describe('identifying the old primary (before anything changes)', () => {
  it('is the write pool member; a writable one must be stopped; its pool membership is undone on refusal', () => {
    expect(identifyOldPrimary(cluster, afterDeath(), known, request())).toEqual({ ok: true, value: { oldPrimary: 'pg1', oldPrimaryWritable: false, oldPrimaryInWritePool: true, alreadyPromoted: null, strayWriters: [] } });
    const live = view([primary('pg1', '0/1', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/1')]);
    expect(identifyOldPrimary(cluster, live, known, request())).toMatchObject({ ok: true, value: { oldPrimary: 'pg1', oldPrimaryWritable: true } });
  });

  it('with an empty write pool: the last known primary, else the one writable node', () => {
    expect(identifyOldPrimary(cluster, pools(afterDeath().nodes, []), known, request())).toMatchObject({ ok: true, value: { oldPrimary: 'pg1', oldPrimaryInWritePool: false } });
    const live = pools([primary('pg1', '0/1', ['pg2']), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/1')], []);
    expect(identifyOldPrimary(cluster, live, null, request())).toMatchObject({ ok: true, value: { oldPrimary: 'pg1' } });
    expect(identifyOldPrimary(cluster, pools(afterDeath().nodes, []), null, request())).toMatchObject({ ok: false, refusal: { code: 'no-old-primary' } });
  });

  it('rolls forward with a node that is already writable (an interrupted failover)', () => {
    const interrupted = view([down('pg1'), { ...primary('pg2', '0/3000100'), timeline: 2 }, standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')]);
    expect(identifyOldPrimary(cluster, interrupted, known, request())).toMatchObject({ ok: true, value: { oldPrimary: 'pg1', alreadyPromoted: 'pg2', strayWriters: [] } });
    expect(identifyOldPrimary(cluster, interrupted, known, request({ target: 'pg3' }))).toMatchObject({ ok: false, refusal: { code: 'several-primaries', reason: expect.stringMatching(/pg2 is already writable/) } });
  });

  it('a writer on an older or the same timeline, or beyond the bound, is not a promotion: it is fenced and the candidate chosen as usual (S7)', () => {
    const sameTimeline = view([down('pg1'), primary('pg2', '0/3000100'), standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')]);
    expect(identifyOldPrimary(cluster, sameTimeline, known, request())).toMatchObject({ ok: true, value: { alreadyPromoted: null, strayWriters: ['pg2'] } });
    const older = view([down('pg1'), primary('pg2', '0/3000100'), standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')]);
    expect(identifyOldPrimary(cluster, older, { ...known, timeline: 3 }, request())).toMatchObject({ ok: true, value: { alreadyPromoted: null, strayWriters: ['pg2'] } });
    const farBehind = view([down('pg1'), { ...primary('pg2', '0/1000000'), timeline: 2 }, standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')]);
    expect(identifyOldPrimary(cluster, farBehind, known, request())).toMatchObject({ ok: true, value: { alreadyPromoted: null, strayWriters: ['pg2'] } });
    // Without the old primary's timeline nothing proves a promotion.
    expect(identifyOldPrimary(cluster, { ...sameTimeline, nodes: sameTimeline.nodes.map((n) => (n.name === 'pg2' ? { ...n, timeline: 2 } : n)) }, null, request())).toMatchObject({ ok: true, value: { alreadyPromoted: null, strayWriters: ['pg2'] } });
  });

  const refusals: [string, () => ReturnType<typeof identifyOldPrimary>, string, RegExp][] = [
    ['two nodes in the write pool', () => identifyOldPrimary(cluster, pools(afterDeath().nodes, ['pg1', 'pg2']), known, request()), 'several-primaries', /write pool holds pg1, pg2/],
    ['the target is the old primary', () => identifyOldPrimary(cluster, afterDeath(), known, request({ target: 'pg1' })), 'target-is-old-primary', /name a standby/],
    ['the target is unreachable', () => identifyOldPrimary(cluster, view([down('pg1'), standby('pg2', 'pg1', '0/1'), down('pg3')]), known, request({ target: 'pg3' })), 'target-not-standby', /pg3 is not a reachable standby \(it is unreachable: connection refused\)/],
    ['the target has noFailover', () => identifyOldPrimary(testCluster((d) => ((d.clusters as { nodes: { noFailover?: boolean }[] }[])[0].nodes[2].noFailover = true)), afterDeath(), known, request({ target: 'pg3' })), 'target-no-failover', /never promoted/],
    ['no promotable standby', () => identifyOldPrimary(cluster, view([down('pg1'), down('pg2'), down('pg3')]), known, request()), 'no-candidate', /pg2: unreachable, pg3: unreachable/],
    ['automatic, and the primary answers again', () => identifyOldPrimary(cluster, view([primary('pg1', '0/1'), standby('pg2', 'pg1', '0/1', '0/1', 'waiting'), standby('pg3', 'pg1', '0/1', '0/1', 'waiting')]), known, request({ requireDeadPrimary: true })), 'primary-answers', /pg1 answers again \(as primary\)/],
    ['automatic, and a standby streams again (S6)', () => identifyOldPrimary(cluster, view([down('pg1'), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/1', '0/1', 'waiting')]), known, request({ requireDeadPrimary: true })), 'standbys-streaming', /pg2 streams again/],
  ];
  it.each(refusals)('refuses when %s', (_what, outcome, code, reason) => {
    expect(outcome()).toEqual({ ok: false, refusal: { code, reason: expect.stringMatching(reason) } });
  });

  it('a manual failover may take a primary that still answers, or that the standbys still stream from', () => {
    const cutOff = view([down('pg1'), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/1')]);
    expect(identifyOldPrimary(cluster, cutOff, known, request()).ok).toBe(true);
  });
});

describe('the loss reference (S7)', () => {
  it('is the shutdown checkpoint when the old primary was stopped cleanly', () => {
    expect(lossReference('pg1', known, { shutdownCheckpointLsn: '0/3000200', currentLsn: '0/3000100' })).toEqual({ lsn: '0/3000200', source: "pg1's shutdown checkpoint" });
  });

  it('else the furthest of the last healthy check and what the old primary reports now', () => {
    expect(lossReference('pg1', known, {})).toEqual({ lsn: '0/3000000', source: 'pg1 at the last healthy check (2026-05-01T10:00:00.000Z)' });
    expect(lossReference('pg1', known, { currentLsn: '0/3000100' })).toEqual({ lsn: '0/3000100', source: "pg1's current position" });
    expect(lossReference('pg1', known, { currentLsn: '0/2000000' })?.lsn).toBe('0/3000000');
  });

  it('counts what the standbys received from it: a position the primary is known to have reached', () => {
    const standbys = afterDeath('0/3000100', '0/2000000').nodes.filter((n) => n.name !== 'pg1') as ReachableNode[];
    expect(lossReference('pg1', known, {}, standbys)).toEqual({ lsn: '0/3000100', source: 'WAL pg2 received from pg1' });
    expect(lossReference('pg1', known, {}, afterDeath('0/3000000').nodes.filter((n) => n.name !== 'pg1') as ReachableNode[])?.source).toBe('pg1 at the last healthy check (2026-05-01T10:00:00.000Z)');
    // Only standby positions: the loss would be 0 by construction — unknown instead ('position-unknown').
    expect(lossReference('pg1', null, {}, standbys)).toBeNull();
  });

  it('ignores a last known position of another node, and is unknown without any', () => {
    expect(lossReference('pg2', known, {})).toBeNull();
    expect(lossReference('pg1', { ...known, lsn: null }, {})).toBeNull();
    expect(lossReference('pg1', null, {}, [standby('pg2', 'pg1', null, null)])).toBeNull();
  });
});

describe('choosing the candidate and checking the loss bound (S7)', () => {
  const reference: LossReference = { lsn: '0/3000000', source: 'pg1 at the last healthy check' };
  const start = { oldPrimary: 'pg1', alreadyPromoted: null };

  it('promotes the standby with the most WAL received; the others follow', () => {
    const outcome = chooseFailoverCandidate(cluster, afterDeath('0/3000000', '0/2F00000'), start, reference, request());
    expect(outcome).toEqual({
      ok: true,
      value: { candidate: 'pg2', alreadyPrimary: false, candidateLsn: '0/3000000', reference, lossBytes: 0, bound: 0x100000, dataLossAccepted: false, followers: ['pg3'], unreachable: [] },
    });
  });

  it('ties on received WAL go to the most replayed, then the higher priority', () => {
    const prioritized = testCluster((d) => ((d.clusters as { nodes: { priority?: number }[] }[])[0].nodes[2].priority = 500));
    const equal = view([down('pg1'), standby('pg2', 'pg1', '0/3000000', '0/2000000', 'waiting'), standby('pg3', 'pg1', '0/3000000', '0/2800000', 'waiting')]);
    expect(chooseFailoverCandidate(cluster, equal, start, reference, request())).toMatchObject({ ok: true, value: { candidate: 'pg3' } });
    expect(chooseFailoverCandidate(prioritized, afterDeath('0/3000000', '0/3000000'), start, reference, request())).toMatchObject({ ok: true, value: { candidate: 'pg3' } });
  });

  it('passes over a standby held for planned maintenance when another has as much WAL, but never loses WAL for it', () => {
    const held = new Set(['pg2']);
    expect(chooseFailoverCandidate(cluster, afterDeath('0/3000000', '0/3000000'), start, reference, request(), held)).toMatchObject({ ok: true, value: { candidate: 'pg3', followers: ['pg2'] } });
    expect(chooseFailoverCandidate(cluster, afterDeath('0/3000000', '0/2F00000'), start, reference, request(), held)).toMatchObject({ ok: true, value: { candidate: 'pg2' } });
  });

  it('measures the loss against the reference and accepts up to the bound', () => {
    expect(chooseFailoverCandidate(cluster, afterDeath('0/2F00000', '0/2E00000'), start, reference, request())).toMatchObject({ ok: true, value: { candidate: 'pg2', lossBytes: 0x100000, dataLossAccepted: false } });
  });

  it('refuses beyond the bound with a reason that says how far and what to do', () => {
    const outcome = chooseFailoverCandidate(cluster, afterDeath('0/2000000', '0/1000000'), start, reference, request());
    expect(outcome).toEqual({
      ok: false,
      refusal: {
        code: 'beyond-loss-bound',
        reason:
          'pg2 has received WAL up to 0/2000000, 16777216 bytes behind pg1 at the last healthy check (0/3000000), more than maxLagBytesForFailover (1048576): promoting it would lose the transactions committed in those bytes (S7). Bring pg1 back, or repeat the failover with acceptDataLoss: true to accept the loss',
      },
    });
  });

  it('with acceptDataLoss promotes the best standby anyway and says how much is lost', () => {
    expect(chooseFailoverCandidate(cluster, afterDeath('0/2000000', '0/1000000'), start, reference, request({ acceptDataLoss: true }))).toMatchObject({
      ok: true,
      value: { candidate: 'pg2', lossBytes: 0x1000000, dataLossAccepted: true },
    });
    expect(chooseFailoverCandidate(cluster, afterDeath(), start, reference, request({ acceptDataLoss: true }))).toMatchObject({ ok: true, value: { lossBytes: 0, dataLossAccepted: false } });
  });

  it('a target beyond the bound is refused, naming a standby within it', () => {
    const outcome = chooseFailoverCandidate(cluster, afterDeath('0/3000000', '0/1000000'), start, reference, request({ target: 'pg3' }));
    expect(outcome).toMatchObject({ ok: false, refusal: { code: 'beyond-loss-bound', reason: expect.stringMatching(/^pg3 has received WAL up to 0\/1000000, 33554432 bytes behind .* pg2 is within the bound\./) } });
    expect(chooseFailoverCandidate(cluster, afterDeath('0/3000000', '0/2FFFF00'), start, reference, request({ target: 'pg3' }))).toMatchObject({ ok: true, value: { candidate: 'pg3', lossBytes: 0x100, followers: ['pg2'] } });
  });

  it('an unknown primary position cannot be bounded: refused unless data loss is accepted', () => {
    expect(chooseFailoverCandidate(cluster, afterDeath(), start, null, request())).toMatchObject({ ok: false, refusal: { code: 'position-unknown', reason: expect.stringMatching(/cannot be bounded: bring pg1 back, or repeat with acceptDataLoss: true/) } });
    expect(chooseFailoverCandidate(cluster, afterDeath(), start, null, request({ acceptDataLoss: true }))).toMatchObject({ ok: true, value: { candidate: 'pg2', lossBytes: null, dataLossAccepted: true } });
  });

  it('a standby that never received WAL counts as infinitely far behind', () => {
    const empty = view([down('pg1'), standby('pg2', 'pg1', null, null, 'waiting'), down('pg3')]);
    expect(chooseFailoverCandidate(cluster, empty, start, reference, request())).toMatchObject({ ok: false, refusal: { code: 'beyond-loss-bound' } });
  });

  it('lists unreachable nodes other than the old primary', () => {
    const partial = view([down('pg1'), standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting'), down('pg3')]);
    expect(chooseFailoverCandidate(cluster, partial, start, reference, request())).toMatchObject({ ok: true, value: { candidate: 'pg2', followers: [], unreachable: ['pg3'] } });
  });

  it('rolls forward with an already promoted node, without a bound to check', () => {
    const interrupted = view([down('pg1'), primary('pg2', '0/3000100'), standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')]);
    expect(chooseFailoverCandidate(cluster, interrupted, { oldPrimary: 'pg1', alreadyPromoted: 'pg2' }, reference, request())).toMatchObject({ ok: true, value: { candidate: 'pg2', alreadyPrimary: true, followers: ['pg3'] } });
  });
});

describe('standbys that may stream from an old primary the app cannot reach (S2, S6)', () => {
  it('names the standbys whose WAL receiver streams from its address', () => {
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg1', '0/1')]), cluster, 'pg1')).toEqual(['pg2', 'pg3']);
  });

  it('fails closed: a sender no node of the cluster is configured with (a DNS name, another address) counts', () => {
    const named = standby('pg2', 'pg1', '0/1');
    const byName = { ...named, walReceiver: { ...named.walReceiver!, senderHost: 'pg1.internal' } };
    expect(standbysStreamingFrom(view([down('pg1'), byName]), cluster, 'pg1')).toEqual(['pg2']);
  });

  it('leaves out receivers that wait, and cascades from another node of the cluster', () => {
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg1', '0/1', '0/1', 'waiting'), standby('pg3', 'pg2', '0/1')]), cluster, 'pg1')).toEqual([]);
  });

  it('never names the old primary itself, nor an unreachable node', () => {
    expect(standbysStreamingFrom(view([standby('pg1', 'pg1', '0/1'), down('pg2')]), cluster, 'pg1')).toEqual([]);
  });

  it('counts a cascade from a standby the app cannot see (it may stream from the old primary), or from one that does', () => {
    expect(standbysStreamingFrom(view([down('pg1'), down('pg2'), standby('pg3', 'pg2', '0/1')]), cluster, 'pg1')).toEqual(['pg3']);
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg1', '0/1'), standby('pg3', 'pg2', '0/1')]), cluster, 'pg1')).toEqual(['pg2', 'pg3']);
  });

  it('fails closed on a sender that matches no node, or several (a port not known, several nodes on one host), and on the old primary itself', () => {
    const onOneHost = testCluster((doc) => {
      const nodes = (doc.clusters as Array<{ nodes: Array<{ host: string; port?: number }> }>)[0].nodes;
      nodes[1].host = nodes[0].host;
      nodes[1].port = 5433;
    });
    const fromPg1 = standby('pg3', 'pg1', '0/1');
    const noPort = { ...fromPg1, walReceiver: { ...fromPg1.walReceiver!, senderPort: null } };
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg1', '0/1', '0/1', 'waiting'), noPort]), onOneHost, 'pg1')).toEqual(['pg3']);
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg1', '0/1', '0/1', 'waiting'), fromPg1]), onOneHost, 'pg1')).toEqual(['pg3']);
    const otherPort = { ...fromPg1, walReceiver: { ...fromPg1.walReceiver!, senderPort: 6543 } };
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg1', '0/1', '0/1', 'waiting'), otherPort]), cluster, 'pg1')).toEqual(['pg3']);
  });

  it('leaves out a cascade from another writer, and receivers that stream round in a loop', () => {
    expect(standbysStreamingFrom(view([down('pg1'), primary('pg2', '0/1', ['pg3']), standby('pg3', 'pg2', '0/1')]), cluster, 'pg1')).toEqual([]);
    expect(standbysStreamingFrom(view([down('pg1'), standby('pg2', 'pg3', '0/1'), standby('pg3', 'pg2', '0/1')]), cluster, 'pg1')).toEqual([]);
  });
});

describe('an automatic failover and a cascade (S6)', () => {
  const cascade = (upstream: NodeInspection) => view([down('pg1'), upstream, standby('pg3', 'pg2', '0/3000000')]);

  it('goes on when the only streaming standby cascades from a standby that no longer streams', () => {
    expect(identifyOldPrimary(cluster, cascade(standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting')), known, request({ requireDeadPrimary: true }))).toMatchObject({ ok: true, value: { oldPrimary: 'pg1' } });
  });

  it('rolls forward, not called off, when the standbys stream from a writer already promoted (an interrupted failover)', () => {
    const interrupted = view([down('pg1'), { ...primary('pg2', '0/3000100', ['pg3']), timeline: 2 }, standby('pg3', 'pg2', '0/3000000')]);
    expect(identifyOldPrimary(cluster, interrupted, known, request({ requireDeadPrimary: true }))).toMatchObject({ ok: true, value: { oldPrimary: 'pg1', alreadyPromoted: 'pg2' } });
  });

  it('is called off when the cascade comes from a standby that streams from the old primary', () => {
    expect(identifyOldPrimary(cluster, cascade(standby('pg2', 'pg1', '0/3000000')), known, request({ requireDeadPrimary: true }))).toMatchObject({ ok: false, refusal: { code: 'standbys-streaming', reason: expect.stringMatching(/^pg2, pg3 stream again/) } });
  });
});
