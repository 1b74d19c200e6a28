import { clusterServices } from '../../../src/app/services';
import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { api, check, checkUntil, editHba, inspect, operationStarted, splitAtNewPrimary, startFailoverStack, verdicts, waitForOperation } from './support';

/**
 * S6 (docs/invariants.md): the app alone loses the primary — its admin role is rejected by the
 * primary's pg_hba.conf — while replication and the application are unaffected. However many
 * checks, and with grace 0, the verdict is "unreachable-but-streaming" and no operation starts.
 */
describe('the app cut off from a primary the standbys still stream from', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('40.5', { policy: { health: { failureThreshold: 2, graceSeconds: 0, probeTimeoutMs: 1000 } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('registers the health check as a timer, every 5 s unless HEALTH_CHECK_SCHEDULE is set', () => {
    expect(stack.runtime.functions().find((f) => f.name === 'healthCheck')).toMatchObject({ kind: 'timer', trigger: { schedule: '*/5 * * * * *' }, extraInputs: [expect.any(String)] });
  });

  it('does not fail over, and counts the primary healthy again once the app reaches it', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    expect((await check(stack)).lastCheck?.verdict).toBe('healthy');

    const admin = stack.cluster.postgres.adminUser;
    const restore = editHba(stack, 'pg1', (rules) => `host all ${admin} 0.0.0.0/0 reject\n${rules}`);
    try {
      const cut = await inspect(stack, 'pg1');
      expect(cut).toMatchObject({ reachable: false, error: expect.stringMatching(/pg_hba\.conf rejects connection/) });
      const states = [];
      for (let i = 0; i < 5; i++) states.push(await check(stack));
      expect(verdicts(states)).toEqual(Array(5).fill('unreachable-but-streaming'));
      expect(states[4]).toMatchObject({ consecutiveFailures: 5, lastCheck: { action: null, suppressed: null } });
      expect(states[4].lastCheck!.summary).toMatch(/^pg1 does not answer the app \(pg_hba\.conf rejects connection for host "[\d.]+", user "postgres", database "postgres", SSL encryption\) but pg2, pg3 still stream from it: no failover \(S6\)$/);
      expect(operationStarted(stack)).toBe(false);
      await load.waitForCommits(30); // the application never noticed
    } finally {
      restore();
    }
    const back = await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy', 3);
    expect(back.at(-1)).toMatchObject({ consecutiveFailures: 0, failingSince: null, primary: { name: 'pg1' } });
    expect(operationStarted(stack)).toBe(false);

    const writes = await load.stop();
    expect(new Set(writes.acknowledged.map((c) => c.server))).toEqual(new Set([stack.cluster.nodes[0].host]));
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
  });

  it('a manual failover of a primary that still answers stops it cleanly first: nothing lost, the old primary follows', async () => {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/failover`, { target: 'pg3', reason: 'operator drill' });
    expect(started.status).toBe(202);
    // S5: one operation per cluster, whatever asks.
    const second = await api(stack, 'POST', `clusters/${stack.cluster.name}/failover`, {});
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ operationId: started.body.operationId, detail: expect.stringMatching(/^failover .* is running on cluster lab/) });
    const report = await waitForOperation(stack, String(started.body.operationId));
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg3', rejoinMethod: 'follow', problems: [] });
    expect(report.steps.map((s) => s.name).slice(0, 6)).toEqual(['claim cluster', 'inspect cluster', 'fence pg1: out of the pools', 'stop pg1', 'wait for the standbys', 're-inspect']);
    expect(report.steps.find((s) => s.name === 'choose candidate')!.detail).toMatchObject({ candidate: 'pg3', lossBytes: 0, reference: { source: "pg1's shutdown checkpoint" } });

    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const { after } = splitAtNewPrimary(writes.acknowledged, stack.cluster.nodes[2].host);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((c) => c.server === stack.cluster.nodes[2].host)).toBe(true);
    const status = await stack.lab.waitUntilHealthy();
    expect(status.ilb).toMatchObject({ writePool: ['pg3'], readPool: ['pg1', 'pg2'] });
    // The health check sees the new primary and forgets the old one once it streams and serves reads.
    const settled = await check(stack);
    expect(settled.lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    expect(settled).toMatchObject({ primary: { name: 'pg3' }, pendingRejoin: [] });
  });

  it('a manual failover of a primary cut off from the app stops it through Run Command before promoting (S2); a standby left out of the read pool is put back by the next check (S4)', async () => {
    // pg3 is the primary now; the app loses it, the standbys still stream from it.
    const admin = stack.cluster.postgres.adminUser;
    const restore = editHba(stack, 'pg3', (rules) => `host all ${admin} 0.0.0.0/0 reject\n${rules}`);
    let report;
    try {
      expect(await inspect(stack, 'pg3')).toMatchObject({ reachable: false });
      const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/failover`, { target: 'pg1', reason: 'pg3 is cut off' });
      expect(started.status).toBe(202);
      report = await waitForOperation(stack, String(started.body.operationId));
    } finally {
      restore();
    }
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg3', newPrimary: 'pg1' });
    expect(report.steps.map((s) => s.name).slice(0, 8)).toEqual(['claim cluster', 'inspect cluster', 'fence pg3: out of the pools', 're-inspect', 'make sure pg3 is stopped', 'wait for the standbys', 're-inspect', 'choose candidate']);
    expect(report.steps.find((s) => s.name === 'make sure pg3 is stopped')!.detail).toMatchObject({ stopped: true, how: expect.stringMatching(/^stopped cleanly \(shutdown checkpoint/) });
    expect(report.steps.find((s) => s.name === 'choose candidate')!.detail).toMatchObject({ candidate: 'pg1', lossBytes: 0, reference: { source: "pg3's shutdown checkpoint" } });
    // pg3 followed pg1 from its clean stop, but the app could not see it in recovery while cut off: it stays out of the read pool.
    expect(report.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^pg3 stays fenced out of the pools: it was rejoined \(follow\) but pg3 does not answer/)]));
    expect((await stack.lab.ilb().pools()).readPool).not.toContain('pg3');
    // S4: the next check finds pg3 streaming from pg1 outside the read pool and puts it back.
    const back = await check(stack);
    expect(back.lastCheck).toMatchObject({ action: { kind: 'read-pool', node: 'pg3' } });
    expect(back.lastAction).toMatchObject({ kind: 'read-pool', node: 'pg3', ok: true });
    expect([...(await stack.lab.ilb().pools()).readPool].sort()).toEqual(['pg2', 'pg3']);
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });

    // S4: a standby taken out of the read pool by something else (a scheduled event's approval, a power event) comes back too.
    const services = clusterServices(stack.cluster.name);
    await services.loadBalancer.setRole(services.node('pg2'), 'none');
    const returned = await check(stack);
    expect(returned.lastCheck).toMatchObject({ action: { kind: 'read-pool', node: 'pg2' } });
    expect(returned.lastAction).toMatchObject({ kind: 'read-pool', node: 'pg2', ok: true });
    expect([...(await stack.lab.ilb().pools()).readPool].sort()).toEqual(['pg2', 'pg3']);
  });
});
