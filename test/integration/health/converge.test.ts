import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { HealthState } from '../../../src/domain/health';
import { isAtOrPast } from '../../../src/domain/lsn';
import type { ReachableNode } from '../../../src/domain/node-state';
import { FaultyGuest } from '../../support/faults';
import { switchoverAndWait } from '../../support/operations';
import { api, startTestStack, vmIdentity } from '../../support/stack';
import { check, inspect, rejoinReport, sql } from '../failover/support';

/**
 * The health check converges the topology (docs/invariants.md S4) against the real lab: a standby
 * a switchover could not re-point — killed during it and restarted, still following the old
 * primary (now a standby itself), or left on the timeline before a promotion with nowhere to
 * stream from — is brought back to the current primary by the next check: re-pointed (follow.sh)
 * when it is on the primary's timeline, rejoined (rejoin.sh: follow, else pg_rewind) from an
 * older one. Under a write load: no acknowledged commit is lost, and the next switchover is not
 * refused. Health checks are driven one at a time through the timer (runtime.invokeTimer).
 */
describe('the health check converges the topology (S4)', () => {
  const guest = new FaultyGuest();
  let stack: LocalStack;
  let load: WriteLoad;

  beforeAll(async () => {
    stack = await startTestStack('31.6', { executor: guest.executor, policy: { catchupTimeoutSeconds: 30, fenceByPowerOff: false, health: { probeTimeoutMs: 1000 } } });
    load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
  });

  afterAll(async () => {
    await load?.stop().catch(() => undefined);
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;
  /** Whether `node` streams from `upstream` (on `timeline`), as its WAL receiver says. */
  const streamsFrom = async (node: string, upstream: string, timeline: number) => {
    const n = await inspect(stack, node);
    return n.reachable && n.role === 'standby' && n.walReceiver?.status === 'streaming' && n.walReceiver.senderHost === hostOf(upstream) && n.walReceiver.receivedTimeline === timeline;
  };
  const timelineOf = async (node: string) => {
    const n = await inspect(stack, node);
    if (!n.reachable) throw new Error(`${node} does not answer: ${n.error}`);
    return n.timeline;
  };
  /** From the observation's start to the end of the monitor's action on it. */
  const actionMs = (state: HealthState) => Date.parse(state.lastAction!.at) - Date.parse(state.lastCheck!.at);

  it('re-points a standby killed during a switchover and restarted still following the old primary, now a standby', async () => {
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });

    // pg3 dies right after pg1's clean stop: the switchover's follow step then finds it down.
    let killed: Promise<void> | undefined;
    guest.afterScript('pg1', 'stop-clean', () => {
      killed = stack.lab.server('pg3').kill();
    });
    const first = await switchoverAndWait(stack, { target: 'pg2' });
    await killed;
    expect(first).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2' });
    expect(first.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^pg3 follows pg2: /)]));
    const timeline = await timelineOf('pg2');

    // Restarted, pg3 still has primary_conninfo → pg1, which the switchover rejoined as a standby
    // of pg2: pg3 streams from it (cascading) and crosses onto pg2's timeline — not from pg2.
    await stack.lab.server('pg3').start();
    await waitFor('pg3 to stream from pg1 on the new timeline', () => streamsFrom('pg3', 'pg1', timeline), { timeoutMs: 60_000 });

    const repointed = await check(stack);
    expect(repointed.lastCheck).toMatchObject({ verdict: 'degraded', action: { kind: 'repoint', node: 'pg3', primary: 'pg2' } });
    expect(repointed.lastCheck!.action!.reason).toBe(
      `pg3 does not stream from pg2 (it streams from ${hostOf('pg1')}:5432; primary_conninfo names ${hostOf('pg1')}:5432): re-point it (same timeline ${timeline}, nothing to undo)`,
    );
    expect(repointed.lastAction).toMatchObject({ kind: 'repoint', node: 'pg3', ok: true, detail: `pg3 streams from pg2 (primary_conninfo re-pointed; timeline ${timeline})` });
    expect(await streamsFrom('pg3', 'pg2', timeline)).toBe(true);
    process.stdout.write(`re-point of pg3: ${actionMs(repointed)} ms from the observation's start to the end of the action\n`);
    const settled = await check(stack);
    expect(settled.lastCheck).toMatchObject({ verdict: 'healthy', action: null });

    // The next switchover, to the node that was re-pointed, is not refused.
    const second = await switchoverAndWait(stack, { target: 'pg3' });
    expect(second).toMatchObject({ outcome: 'completed', oldPrimary: 'pg2', newPrimary: 'pg3', problems: [] });
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
  });

  it('rejoins a standby left on the timeline before a promotion with nowhere to stream from', async () => {
    // pg1 loses its upstream (primary_conninfo at an address nothing listens on), and its follow
    // step in the next switchover fails: it stays on pg3's timeline while pg2 starts the next one.
    await sql(stack, 'pg1', "ALTER SYSTEM SET primary_conninfo = 'host=127.31.6.250 port=5432 user=replicator connect_timeout=1'");
    await sql(stack, 'pg1', 'SELECT pg_reload_conf()');
    await waitFor('pg1 to stop streaming', async () => !(await streamsFrom('pg1', 'pg3', await timelineOf('pg3'))), { timeoutMs: 30_000 });
    guest.breakScript('pg1', 'follow');
    const third = await switchoverAndWait(stack, { target: 'pg2' });
    guest.repairAll();
    expect(third).toMatchObject({ outcome: 'completed', oldPrimary: 'pg3', newPrimary: 'pg2' });
    const timeline = await timelineOf('pg2');
    expect(await timelineOf('pg1')).toBeLessThan(timeline);

    const rejoining = await check(stack);
    expect(rejoining.lastCheck).toMatchObject({ verdict: 'degraded', action: { kind: 'rejoin', node: 'pg1', primary: 'pg2', reason: expect.stringMatching(/it may be past the fork point, so it is rejoined/) } });
    expect(rejoining.pendingRejoin).toEqual([expect.objectContaining({ node: 'pg1', primary: 'pg2', standby: true, attempts: 1 })]);
    const report = await rejoinReport(stack, 'pg1');
    // Its WAL ends before the fork point: rejoin.sh re-points it without a rewind.
    expect(report).toMatchObject({ outcome: 'rejoined', method: 'follow', primary: 'pg2' });
    expect(await streamsFrom('pg1', 'pg2', timeline)).toBe(true);
    const settled = await check(stack);
    expect(settled.lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    expect(settled.pendingRejoin).toEqual([]);

    // S1 across all three switchovers and both repairs: nothing acknowledged was lost.
    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(writes.acknowledged.length).toBeGreaterThan(0);
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const status = await stack.lab.waitUntilHealthy();
    expect(status.ilb.writePool).toEqual(['pg2']);
    expect([...status.ilb.readPool].sort()).toEqual(['pg1', 'pg3']);
  });

  it('keeps a standby approved for a reboot out of the read pool until its PostgreSQL has restarted', async () => {
    const before = await stack.lab.waitUntilHealthy();
    const primary = before.nodes.find((n) => n.role === 'primary')!.name;
    const node = before.ilb.readPool[0];
    const path = `clusters/${stack.cluster.name}/nodes/${node}/scheduled-events`;
    const event = {
      EventId: '0F1E2D3C-31A6-4000-8000-000000000001',
      EventType: 'Reboot',
      ResourceType: 'VirtualMachine',
      Resources: [node],
      EventStatus: 'Scheduled',
      NotBefore: new Date(Date.now() + 15 * 60_000).toUTCString(),
      DurationInSeconds: -1,
    };
    expect(await api(stack, 'POST', path, event, vmIdentity(stack, node))).toMatchObject({ status: 200, body: { verdict: 'approve', node } });
    expect((await stack.lab.status()).ilb.readPool).not.toContain(node);

    // It still streams, but the check leaves it out: its reboot has not happened yet.
    const waiting = await check(stack);
    expect(waiting.maintenanceHolds).toEqual([expect.objectContaining({ node, event: 'Reboot' })]);
    expect(waiting.lastCheck).toMatchObject({ verdict: 'degraded', action: null, findings: [expect.stringMatching(new RegExp(`^${node} is held out of the pools for its maintenance \\(Reboot\\)`))] });
    expect((await stack.lab.status()).ilb.readPool).not.toContain(node);
    // The same event answered again holds it once, and does not put it back either.
    expect(await api(stack, 'POST', path, event, vmIdentity(stack, node))).toMatchObject({ status: 200, body: { verdict: 'approve' } });
    // Nor is it ever a switchover's candidate while held: it is about to reboot.
    expect(await api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, { target: node, dryRun: true })).toMatchObject({ status: 409, body: { code: 'target-held' } });
    expect(await switchoverAndWait(stack, { target: node })).toMatchObject({ outcome: 'refused', reason: expect.stringContaining(`${node} is held out of the pools for its planned maintenance`) });

    // The reboot: PostgreSQL stops and starts again. Back, streaming and caught up (restarted, it
    // receives again from the start of a WAL segment), it serves reads again.
    await stack.lab.server(node).stop();
    await stack.lab.server(node).start();
    const timeline = await timelineOf(primary);
    await waitFor(`${node} to stream from ${primary} again`, () => streamsFrom(node, primary, timeline), { timeoutMs: 60_000 });
    const primaryLsn = ((await inspect(stack, primary)) as ReachableNode).currentLsn!;
    await waitFor(`${node} to catch up with ${primary}`, async () => {
      const standby = await inspect(stack, node);
      return standby.reachable && !!standby.receivedLsn && isAtOrPast(standby.receivedLsn, primaryLsn);
    }, { timeoutMs: 60_000 });
    const back = await check(stack);
    expect(back.lastCheck).toMatchObject({ action: { kind: 'read-pool', node }, findings: [expect.stringMatching(new RegExp(`^${node} is back from its maintenance \\(Reboot; PostgreSQL started again at `)), `${node} streams but is not in the read pool: put it back`] });
    expect(back.lastAction).toMatchObject({ kind: 'read-pool', node, ok: true });
    expect(back.maintenanceHolds).toEqual([]);
    expect((await stack.lab.status()).ilb.readPool).toContain(node);
  });
});
