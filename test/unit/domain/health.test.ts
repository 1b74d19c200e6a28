import { run } from './health-support';
import {
  HealthObservation,
  initialHealthState,
  isStale,
  recordAction,
  recordStale,
  rejoinRetryDelayMs,
  REJOIN_RETRY_MAX_MS,
  REJOIN_RETRY_MS,
  maintenanceApplied,
  setMaintenance,
} from '../../../src/domain/health';
import { NodeInspection } from '../../../src/domain/node-state';
import { down, primary, standby, testCluster, view } from '../../support/views';

// health-support's cluster: failureThreshold 3, graceSeconds 30, autoFailover on, maxLagBytesForFailover 1 MiB.
const T0 = Date.parse('2026-05-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

function observe(seconds: number, nodes: NodeInspection[], extra: Partial<HealthObservation> & { write?: string[]; read?: string[] } = {}): HealthObservation {
  const { write, read, ...rest } = extra;
  const v = view(nodes);
  return { startedAt: at(seconds), view: { ...v, pools: { write: write ?? v.pools.write, read: read ?? v.pools.read } }, operation: null, rejoining: [], powerStates: {}, ...rest };
}

const healthyNodes = (lsn = '0/3000000') => [primary('pg1', lsn, ['pg2', 'pg3']), standby('pg2', 'pg1', lsn), standby('pg3', 'pg1', lsn)];
/** The primary is gone and the standbys' WAL receivers have noticed. */
const deadPrimaryNodes = () => [down('pg1'), standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting'), standby('pg3', 'pg1', '0/2FFF000', '0/2FFF000', 'waiting')];
/** The app cannot reach the primary, but both standbys still stream from it. */
const cutOffNodes = () => [down('pg1'), standby('pg2', 'pg1', '0/3000000'), standby('pg3', 'pg1', '0/3000000')];


describe('health verdict: a healthy cluster', () => {
  it('is healthy, records the primary and its LSN, and resets the failure count', () => {
    const { last, state } = run([observe(0, deadPrimaryNodes()), observe(10, healthyNodes('0/3000100'))]);
    expect(last).toMatchObject({ verdict: 'healthy', action: null, suppressed: null, findings: [] });
    expect(state).toMatchObject({ consecutiveFailures: 0, failingSince: null, observations: 2, primary: { name: 'pg1', lsn: '0/3000100', timeline: 1, at: at(10) } });
    expect(state.lastCheck).toBe(last);
  });

  it('reports a standby further behind than the failover bound and one that is unreachable without acting; re-points one that does not stream', () => {
    const lagging = [primary('pg1', '0/3000000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/1000000'), standby('pg3', 'pg1', '0/3000000')];
    expect(run([observe(0, lagging)]).last).toMatchObject({ verdict: 'degraded', action: null, findings: [expect.stringMatching(/^pg2 is 33554432 bytes behind pg1, more than maxLagBytesForFailover \(1048576\)/)] });
    const nodes = [primary('pg1', '0/3000000', ['pg2']), standby('pg2', 'pg1', '0/1000000'), standby('pg3', 'pg1', '0/2000000', '0/2000000', 'waiting')];
    const { last } = run([observe(0, nodes)]);
    expect(last.verdict).toBe('degraded');
    expect(last.action).toMatchObject({ kind: 'repoint', node: 'pg3', primary: 'pg1' });
    expect(last.findings).toEqual([
      expect.stringMatching(/^pg2 is 33554432 bytes behind pg1, more than maxLagBytesForFailover \(1048576\)/),
      'pg3 does not stream from pg1 (WAL receiver waiting; primary_conninfo names 10.0.1.11:5432): re-point it (same timeline 1, nothing to undo)',
    ]);
    expect(run([observe(0, [primary('pg1', '0/1', ['pg2']), standby('pg2', 'pg1', '0/1'), down('pg3')])]).last.findings).toEqual(['pg3 is unreachable: connection refused']);
  });

  it("measures a standby's lag from the later of received and replayed: a new WAL receiver reports its segment's start", () => {
    // After pg_rewind pg2 replayed its own pg_wal to the primary's head; its WAL receiver, just started, reports 0/3000000.
    const rewound = [primary('pg1', '0/3180000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/3000000', '0/3180000'), standby('pg3', 'pg1', '0/3180000')];
    expect(run([observe(0, rewound)]).last).toMatchObject({ verdict: 'healthy', findings: [] });
  });

  it("names each agent that would refuse the app's node steps (another release's scripts, none, or not saying), with the cost and the fix, and does nothing", () => {
    const appSends = 'ab'.repeat(32);
    const agentsWithOtherSteps = [
      { node: 'pg1', agentRuns: 'cd'.repeat(32), appSends },
      { node: 'pg2', agentRuns: 'none', appSends },
      { node: 'pg3', agentRuns: null, appSends },
    ];
    const observation = observe(0, healthyNodes());
    const { last } = run([{ ...observation, view: { ...observation.view, agentsWithOtherSteps } }]);
    const cost = (steps: string, node: string) => `: ${steps} on ${node} goes through Run Command (about 20 s each on Azure, on a failover's write path); install the agent from this app's release on ${node} with its node steps (agent/README.md, "Node steps")`;
    expect(last).toMatchObject({ verdict: 'degraded', action: null, suppressed: null });
    expect(last.findings).toEqual([
      `pg1's agent runs other step scripts (version cdcdcdcdcdcd) than this app sends (abababababab)${cost('each node step whose script differs', 'pg1')}`,
      `pg2's agent serves no node steps${cost('every node step', 'pg2')}`,
      `pg3's agent does not say which step scripts it runs (an agent from before 2026-12-07)${cost('every node step', 'pg3')}`,
    ]);
  });
});

describe('health verdict: an unreachable primary (S6)', () => {
  it('counts consecutive failures from the first failed check and waits for the threshold', () => {
    const { checks, state } = run([observe(0, deadPrimaryNodes()), observe(40, deadPrimaryNodes())]);
    expect(checks.map((c) => c.verdict)).toEqual(['primary-failing', 'primary-failing']);
    expect(checks[1].summary).toMatch(/failover after 1 more failed check\(s\)$/);
    expect(state).toMatchObject({ consecutiveFailures: 2, failingSince: at(0) });
  });

  it('waits for the grace period even when the threshold is met', () => {
    const { last } = run([observe(0, deadPrimaryNodes()), observe(1, deadPrimaryNodes()), observe(2, deadPrimaryNodes())]);
    expect(last).toMatchObject({ verdict: 'primary-failing', action: null });
    expect(last.summary).toMatch(/failover after 28 s more of grace/);
  });

  it('fails over once threshold AND grace are met and no reachable standby streams', () => {
    const { checks, state } = run([observe(0, deadPrimaryNodes()), observe(15, deadPrimaryNodes()), observe(30, deadPrimaryNodes())]);
    expect(checks.map((c) => c.verdict)).toEqual(['primary-failing', 'primary-failing', 'primary-dead']);
    // The failover's first look asks the primary no check could reach only briefly (src/domain/brief-ask.ts).
    expect(checks[2].action).toEqual({ kind: 'failover', reason: expect.stringMatching(/pg1 is unreachable \(connection refused\) for 3 check\(s\) over 30 s/), unreachablePrimary: 'pg1' });
    expect(checks[2].findings).toEqual(['promotable: pg2, pg3']);
    expect(state.primary).toBeNull(); // never seen healthy in this run
  });

  it('counts a deciding check that fires a few milliseconds early as a full grace, but not one a second early', () => {
    const verdictAt = (last: number) => run([observe(0, deadPrimaryNodes()), observe(10, deadPrimaryNodes()), observe(last, deadPrimaryNodes())]).last.verdict;
    expect(verdictAt(29.999)).toBe('primary-dead');
    expect(verdictAt(29.8)).toBe('primary-dead');
    expect(verdictAt(29)).toBe('primary-failing');
  });

  it('never fails over a primary the standbys still stream from, however long it is unreachable from the app', () => {
    const { checks } = run([0, 30, 60, 600].map((s) => observe(s, cutOffNodes())));
    expect(checks.every((c) => c.verdict === 'unreachable-but-streaming' && c.action === null && c.suppressed === null)).toBe(true);
    expect(checks[3].summary).toBe('pg1 does not answer the app (connection refused) but pg2, pg3 still stream from it: no failover (S6)');
  });

  it('a cascade from a live standby that no longer streams does not hold the failover back; one from a standby the app cannot see does', () => {
    const fromLiveStandby = [down('pg1'), standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting'), standby('pg3', 'pg2', '0/3000000')];
    expect(run([0, 10, 30].map((s) => observe(s, fromLiveStandby))).last).toMatchObject({ verdict: 'primary-dead', action: { kind: 'failover' } });
    const fromUnseenStandby = [down('pg1'), down('pg2'), standby('pg3', 'pg2', '0/3000000')];
    expect(run([0, 10, 30].map((s) => observe(s, fromUnseenStandby))).last).toMatchObject({ verdict: 'unreachable-but-streaming', action: null, summary: expect.stringContaining('but pg3 still streams from it') });
  });

  it('one standby still streaming is enough to hold the failover back', () => {
    const nodes = [down('pg1'), standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting'), standby('pg3', 'pg1', '0/3000000')];
    expect(run([0, 30, 60].map((s) => observe(s, nodes))).last.verdict).toBe('unreachable-but-streaming');
  });

  it('fails over with grace 0 on the threshold-th check (and with threshold 1 on the first)', () => {
    const quick = testCluster((doc) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (doc.clusters as any[])[0].policy = { health: { failureThreshold: 2, graceSeconds: 0 } };
    });
    expect(run([observe(0, deadPrimaryNodes()), observe(0.5, deadPrimaryNodes())], undefined, quick).checks.map((c) => c.verdict)).toEqual(['primary-failing', 'primary-dead']);
    const instant = testCluster((doc) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (doc.clusters as any[])[0].policy = { health: { failureThreshold: 1, graceSeconds: 0 } };
    });
    expect(run([observe(0, deadPrimaryNodes())], undefined, instant).last.action?.kind).toBe('failover');
  });

  it('a healthy check in between starts the count again', () => {
    const { checks, state } = run([observe(0, deadPrimaryNodes()), observe(10, deadPrimaryNodes()), observe(20, healthyNodes()), observe(30, deadPrimaryNodes()), observe(40, deadPrimaryNodes())]);
    expect(checks.map((c) => c.verdict)).toEqual(['primary-failing', 'primary-failing', 'healthy', 'primary-failing', 'primary-failing']);
    expect(state).toMatchObject({ consecutiveFailures: 2, failingSince: at(30) });
  });

  it('has nothing to fail over to without a reachable promotable standby', () => {
    const guarded = testCluster((doc) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (doc.clusters as any[])[0].nodes[1].noFailover = true;
    });
    const nodes = [down('pg1'), standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting'), down('pg3')];
    const { last } = run([0, 15, 30].map((s) => observe(s, nodes)), undefined, guarded);
    expect(last).toMatchObject({ verdict: 'primary-dead', action: null });
    expect(last.summary).toMatch(/no promotable standby is reachable/);
  });

  it('does not fail over while another node is already writable: that is a split to roll forward by hand', () => {
    const known = run([observe(0, healthyNodes())]).state;
    const promoted = { ...primary('pg2', '0/3000100'), timeline: 2 };
    const nodes = [down('pg1'), promoted, standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')];
    const { last } = run([10, 25, 40].map((s) => observe(s, nodes)), known);
    expect(last).toMatchObject({ verdict: 'split-brain', action: null });
    expect(last.summary).toMatch(/manual failover to pg2 \(timeline 2\)/);
  });

  it('never recommends rolling forward to a writer on an older (or the same) timeline than the last known primary (S7)', () => {
    const known = run([observe(0, [{ ...primary('pg1', '0/3000000', ['pg2', 'pg3']), timeline: 3 }, standby('pg2', 'pg1', '0/3000000'), standby('pg3', 'pg1', '0/3000000')])]).state;
    const nodes = [down('pg1'), primary('pg2', '0/2000000'), standby('pg3', 'pg1', '0/3000000', '0/3000000', 'waiting')];
    const { last } = run([10, 25, 40].map((s) => observe(s, nodes)), known);
    expect(last).toMatchObject({ verdict: 'split-brain', action: null });
    expect(last.summary).not.toMatch(/failover to pg2/);
    expect(last.summary).toMatch(/none of them is on a newer timeline than the last known primary's \(3\): do not fail over to them/);
  });

  it('watches the last known primary when the write pool is empty (an interrupted fence)', () => {
    const known = run([observe(0, healthyNodes())]).state;
    const { last } = run([10, 25, 40].map((s) => observe(s, deadPrimaryNodes(), { write: [] })), known);
    expect(last).toMatchObject({ verdict: 'primary-dead', action: { kind: 'failover' } });
  });
});

describe('health verdict: what suppresses an automatic failover', () => {
  const outage = () => [observe(0, deadPrimaryNodes()), observe(15, deadPrimaryNodes()), observe(30, deadPrimaryNodes())];

  it('maintenance mode: the verdict is reported, the action is not taken', () => {
    const inMaintenance = setMaintenance(initialHealthState('orders'), { enabled: true, at: at(-1), by: 'http', reason: 'patching' });
    const { last } = run(outage(), inMaintenance);
    expect(last.verdict).toBe('primary-dead');
    expect(last.action).toBeNull();
    expect(last.suppressed).toEqual({ action: { kind: 'failover', reason: expect.any(String), unreachablePrimary: 'pg1' }, because: 'maintenance mode is on (set by http: patching): the health check reports but never acts' });
  });

  it('maintenance also holds back fencing and rejoining', () => {
    const inMaintenance = setMaintenance(initialHealthState('orders'), { enabled: true, at: at(-1), by: 'http' });
    const { last } = run([observe(0, [primary('pg1', '0/1', ['pg3']), primary('pg2', '0/1'), standby('pg3', 'pg1', '0/1')])], inMaintenance);
    expect(last).toMatchObject({ verdict: 'split-brain', action: null, suppressed: { action: { kind: 'fence', node: 'pg2' } } });
  });

  it('policy.autoFailover off', () => {
    const manual = testCluster((doc) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (doc.clusters as any[])[0].policy = { autoFailover: false };
    });
    expect(run(outage(), undefined, manual).last.suppressed?.because).toMatch(/autoFailover is off/);
  });

  it('one automatic failover per outage: not repeated after it was started (or refused), again for a new outage', () => {
    const first = run(outage());
    const started = recordAction(first.state, first.last.action!, { at: at(31), ok: true, detail: 'started', operation: { operationId: 'orders-failover-1', started: true } });
    expect(started).toMatchObject({ autoFailoverFor: at(0), actedAt: at(31), lastOperation: { operationId: 'orders-failover-1', kind: 'failover', started: true } });
    const again = run([observe(45, deadPrimaryNodes())], started);
    expect(again.last).toMatchObject({ verdict: 'primary-dead', action: null, suppressed: { because: expect.stringMatching(/already started for this outage \(orders-failover-1\)/) } });
    const recovered = run([observe(50, healthyNodes()), observe(60, deadPrimaryNodes()), observe(75, deadPrimaryNodes()), observe(90, deadPrimaryNodes())], again.state);
    expect(recovered.last.action?.kind).toBe('failover');
  });

  it('a running operation: the check only watches, and the failure count stands still', () => {
    const failing = run([observe(0, deadPrimaryNodes()), observe(15, deadPrimaryNodes())]).state;
    const { last, state } = run([observe(30, deadPrimaryNodes(), { operation: { operationId: 'orders-switchover-1', kind: 'switchover' } })], failing);
    expect(last).toMatchObject({ verdict: 'operation-running', action: null, summary: 'switchover orders-switchover-1 is running: the health check only watches' });
    expect(state).toMatchObject({ consecutiveFailures: 2, failingSince: at(0) });
  });

  it('after an automatic failover that was refused, the same outage does not start another one', () => {
    const decided = run([observe(0, deadPrimaryNodes()), observe(15, deadPrimaryNodes()), observe(30, deadPrimaryNodes())]);
    const started = recordAction(decided.state, decided.last.action!, { at: at(31), ok: true, detail: 'started', operation: { operationId: 'orders-failover-1', started: true } });
    const during = run([observe(32, deadPrimaryNodes(), { operation: { operationId: 'orders-failover-1', kind: 'failover' } })], started).state;
    // Refused (docs/invariants.md S7): the fence was undone, pg1 is back in the write pool and still dead.
    const { last } = run([observe(40, deadPrimaryNodes()), observe(50, deadPrimaryNodes())], during);
    expect(last).toMatchObject({ verdict: 'primary-dead', action: null, suppressed: { because: expect.stringMatching(/already started for this outage \(orders-failover-1\)/) } });
  });
});

describe('health verdict: two writable nodes (S2)', () => {
  it('fences the writable node outside the write pool before anything else, and marks it for rejoin', () => {
    const nodes = [primary('pg1', '0/5000000', ['pg3']), primary('pg2', '0/4000000'), standby('pg3', 'pg1', '0/5000000')];
    const { last, state } = run([observe(0, nodes, { read: ['pg3'] })]);
    expect(last).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg2' } });
    expect(state.pendingRejoin).toEqual([{ node: 'pg2', primary: 'pg1', since: at(0), attempts: 0, lastAttemptAt: null }]);
  });

  it('with both in the write pool, keeps the last known primary and fences the other', () => {
    const known = run([observe(0, healthyNodes())]).state;
    const nodes = [primary('pg1', '0/5000000', ['pg3']), primary('pg2', '0/4000000'), standby('pg3', 'pg1', '0/5000000')];
    expect(run([observe(10, nodes, { write: ['pg1', 'pg2'] })], known).last).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg2' } });
    expect(run([observe(10, nodes, { write: ['pg1', 'pg2'] })]).last).toMatchObject({ verdict: 'split-brain', action: null });
  });

  it('never fences a writer on a newer timeline than the expected primary; prefers it when the write pool is empty (S2)', () => {
    const known = run([observe(0, healthyNodes())]).state; // pg1, timeline 1
    const newer = { ...primary('pg2', '0/4000000', ['pg3']), timeline: 2 };
    const stale = primary('pg1', '0/3000100');
    // Empty write pool: pg2 (timeline 2) is the primary, pg1 (timeline 1, the stale last known) is the one fenced.
    const empty = run([observe(10, [stale, newer, standby('pg3', 'pg2', '0/4000000')], { write: [], read: ['pg3'] })], known);
    expect(empty.last).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg1' } });
    expect(empty.state.primary).toMatchObject({ name: 'pg2', timeline: 2 });
    // pg1 still in the write pool, pg2 writable on a newer timeline outside it: neither is fenced (nor rejoined).
    const single = run([observe(10, [stale, newer, standby('pg3', 'pg2', '0/4000000')], { write: ['pg1'], read: ['pg3'] })], known);
    expect(single.last).toMatchObject({ verdict: 'split-brain', action: null });
    expect(single.last.summary).toMatch(/pg2 \(timeline 2\) writable on a newer timeline than pg1 \(timeline 1\).*failover to pg2/);
    expect(single.state.pendingRejoin).toEqual([]);
    // Both in the write pool: the newer timeline is kept even though pg1 is the last known primary.
    const both = run([observe(10, [stale, newer, standby('pg3', 'pg2', '0/4000000')], { write: ['pg1', 'pg2'], read: ['pg3'] })], known);
    expect(both.last).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg1' } });
  });

  it('reports a write pool that holds a standby, or a node that does not exist, without acting', () => {
    expect(run([observe(0, healthyNodes(), { write: ['pg2'] })]).last).toMatchObject({ verdict: 'no-primary', action: null });
    expect(run([observe(0, healthyNodes(), { write: ['pg9'] })]).last).toMatchObject({ verdict: 'no-primary', action: null });
    expect(run([observe(0, healthyNodes(), { write: [] })]).last).toMatchObject({ verdict: 'no-primary', action: null });
  });
});

describe('health verdict: the former primary comes back', () => {
  // pg1 was the primary; a failover made pg2 the primary (write pool [pg2]) and fenced pg1.
  const beforeFailover = () => run([observe(0, healthyNodes())]).state;
  const afterFailover = (pg1: NodeInspection, extra: Partial<HealthObservation> & { read?: string[] } = {}) =>
    observe(100, [pg1, primary('pg2', '0/4000000', ['pg3']), standby('pg3', 'pg2', '0/4000000')], { write: ['pg2'], read: ['pg3'], ...extra });

  it('remembers it for rejoin, and waits while its VM is off', () => {
    const { last, state } = run([afterFailover(down('pg1'), { powerStates: { pg1: 'stopped' } })], beforeFailover());
    expect(last).toMatchObject({ verdict: 'degraded', action: null, findings: ['pg1 (former primary) waits to be rejoined: its VM is stopped'] });
    expect(state.pendingRejoin).toEqual([{ node: 'pg1', primary: 'pg2', since: at(100), attempts: 0, lastAttemptAt: null }]);
    expect(state.primary).toMatchObject({ name: 'pg2', lsn: '0/4000000' });
  });

  it('rejoins it when its VM runs (a crashed postmaster: rejoin recovers it) or it answers as a standby elsewhere', () => {
    expect(run([afterFailover(down('pg1'), { powerStates: { pg1: 'running' } })], beforeFailover()).last.action).toEqual({ kind: 'rejoin', node: 'pg1', primary: 'pg2', reason: expect.stringMatching(/^pg1 \(former primary\) is unreachable/) });
    expect(run([afterFailover(standby('pg1', 'pg9', '0/3000000', '0/3000000', 'waiting'))], beforeFailover()).last.action).toMatchObject({ kind: 'rejoin', node: 'pg1' });
  });

  it('tries the rejoin when its VM\'s power state could not be read (ARM slow or down): the rejoin asks the node itself first', () => {
    expect(run([afterFailover(down('pg1'), { powerStates: { pg1: 'unknown' } })], beforeFailover()).last.action).toMatchObject({ kind: 'rejoin', node: 'pg1', primary: 'pg2' });
  });

  it('fences it first when it comes back writable', () => {
    const { last } = run([afterFailover(primary('pg1', '0/3000100'))], beforeFailover());
    expect(last).toMatchObject({ verdict: 'split-brain', action: { kind: 'fence', node: 'pg1' } });
  });

  it('leaves it alone while its rejoin runs, and retries a failed rejoin with back-off', () => {
    const pending = run([afterFailover(down('pg1'), { powerStates: { pg1: 'running' } })], beforeFailover());
    expect(run([afterFailover(down('pg1'), { powerStates: { pg1: 'running' }, rejoining: ['pg1'] })], pending.state).last.action).toBeNull();
    const attempted = recordAction(pending.state, pending.last.action!, { at: at(101), ok: true, detail: 'started' });
    expect(attempted.pendingRejoin[0]).toMatchObject({ attempts: 1, lastAttemptAt: at(101) });
    const soon = run([observe(130, [down('pg1'), primary('pg2', '0/4000000', ['pg3']), standby('pg3', 'pg2', '0/4000000')], { write: ['pg2'], read: ['pg3'], powerStates: { pg1: 'running' } })], attempted);
    expect(soon.last.action).toBeNull();
    expect(soon.last.findings[0]).toMatch(/next rejoin attempt is due 31 s from now/);
    const later = run([observe(161, [down('pg1'), primary('pg2', '0/4000000', ['pg3']), standby('pg3', 'pg2', '0/4000000')], { write: ['pg2'], read: ['pg3'], powerStates: { pg1: 'running' } })], attempted);
    expect(later.last.action?.kind).toBe('rejoin');
  });

  it('puts ANY standby streaming within the bound back into the read pool, not only a former primary (S4)', () => {
    const healthy = run([observe(0, healthyNodes())]).state;
    expect(run([observe(10, healthyNodes(), { read: ['pg3'] })], healthy).last).toMatchObject({ verdict: 'degraded', action: { kind: 'read-pool', node: 'pg2' } });
    // Not one that lags beyond the bound, nor one that does not stream.
    const lagging = [primary('pg1', '0/9000000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/1000000'), standby('pg3', 'pg1', '0/9000000')];
    const notBack = run([observe(10, lagging, { read: ['pg3'] })], healthy).last;
    expect(notBack.action).toBeNull();
    expect(notBack.findings).toContain('pg2 streams but is not in the read pool (not put back while it lags)');
    // One that does not stream is re-pointed first (it goes back only once it streams).
    const broken = [primary('pg1', '0/3000000', ['pg3']), standby('pg2', 'pg1', '0/3000000', '0/3000000', 'waiting'), standby('pg3', 'pg1', '0/3000000')];
    expect(run([observe(10, broken, { read: ['pg3'] })], healthy).last.action).toMatchObject({ kind: 'repoint', node: 'pg2' });
  });

  it('puts it into the read pool once it streams from the new primary, then forgets it', () => {
    const streaming = standby('pg1', 'pg2', '0/4000000');
    const pending = run([afterFailover(down('pg1'), { powerStates: { pg1: 'stopped' } })], beforeFailover()).state;
    const notServing = run([afterFailover(streaming)], pending);
    expect(notServing.last.action).toEqual({ kind: 'read-pool', node: 'pg1', reason: 'pg1 streams from pg2 again: serve reads' });
    const serving = run([afterFailover(streaming, { read: ['pg1', 'pg3'] })], pending);
    expect(serving.last).toMatchObject({ verdict: 'healthy', action: null });
    expect(serving.state.pendingRejoin).toEqual([]);
  });
});

describe('the monitor state bookkeeping', () => {
  it('an observation begun before the last action finished is stale', () => {
    const acted = { ...initialHealthState('orders'), actedAt: at(10) };
    expect(isStale(acted, observe(9.9, healthyNodes()))).toBe(true);
    expect(isStale(acted, observe(10, healthyNodes()))).toBe(false);
    expect(isStale(initialHealthState('orders'), observe(0, healthyNodes()))).toBe(false);
    expect(recordStale(acted)).toMatchObject({ observations: 1, staleObservations: 1 });
  });

  it('maintenance keeps who set it, why, and the request id', () => {
    const on = setMaintenance(initialHealthState('orders'), { enabled: true, at: at(0), by: 'http', reason: 'kernel update', requestId: 'r1' });
    expect(on).toMatchObject({ maintenance: { enabled: true, changedAt: at(0), changedBy: 'http', reason: 'kernel update' }, lastRequestId: 'r1' });
    expect(setMaintenance(on, { enabled: false, at: at(5), by: 'cli' }).maintenance).toEqual({ enabled: false, changedAt: at(5), changedBy: 'cli', reason: null, requestedAt: null });
  });

  it('the newest maintenance request wins, whatever order the re-sent requests arrive in', () => {
    const off = setMaintenance(initialHealthState('orders'), { enabled: false, at: at(2), by: 'http', reason: 'done', requestId: 'newer', requestedAt: at(1) });
    // The older "enable" request, re-sent by its handler, arrives after the newer "disable".
    const late = setMaintenance(off, { enabled: true, at: at(3), by: 'http', reason: 'patching', requestId: 'older', requestedAt: at(0) });
    expect(late.maintenance).toEqual(off.maintenance);
    expect(maintenanceApplied(late, 'older')).toBe(true); // its sender stops re-sending
    const newest = setMaintenance(late, { enabled: true, at: at(4), by: 'http', requestId: 'newest', requestedAt: at(3.5) });
    expect(newest.maintenance).toMatchObject({ enabled: true, requestedAt: at(3.5) });
  });

  it('rejoin retries back off exponentially up to a cap', () => {
    expect([0, 1, 2, 3].map(rejoinRetryDelayMs)).toEqual([0, REJOIN_RETRY_MS, 2 * REJOIN_RETRY_MS, 4 * REJOIN_RETRY_MS]);
    expect(rejoinRetryDelayMs(30)).toBe(REJOIN_RETRY_MAX_MS);
  });
});
