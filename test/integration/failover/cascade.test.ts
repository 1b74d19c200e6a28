import { withClient } from '../../../src/adapters/postgres/connect';
import { LocalStack } from '../../../harness/local/stack';
import { WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { automaticFailoverReport, check, checkUntil, expectOnlyTheOldPrimarysLastCommitsLost, inspect, sql, startFailoverStack, verdicts, waitUntilNotStreaming } from './support';

/**
 * S6 counts a standby as a sign of the primary's life only when it may stream from it
 * (`standbysStreamingFrom`, src/domain/cluster-view.ts). pg3 cascades from pg2: when pg1 dies, pg3
 * keeps streaming — from pg2, which the app sees alive and no longer streaming — and the health
 * check fails pg1 over as if pg3 were idle, instead of holding back for as long as the cascade lasts.
 */
describe('failover of a dead primary while a standby cascades from another standby', () => {
  const FAILURE_THRESHOLD = 2;
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('77.5', { policy: { fenceByPowerOff: true, health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;
  const streamsFrom = async (node: string, upstream: string) => {
    const n = await inspect(stack, node);
    return n.reachable && n.role === 'standby' && n.walReceiver?.status === 'streaming' && n.walReceiver.senderHost === hostOf(upstream);
  };

  it('is not held back by the cascade: the health check fails over after the configured checks, and no acknowledged commit beyond the old primary is lost', async () => {
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', action: null });
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(50);

    // No health check runs from here until pg1 is dead: while the primary is healthy it would re-point pg3.
    const conninfo = await withClient(stack.lab.adminEndpoint('pg3'), async (client) => (await client.query<{ primary_conninfo: string }>('SHOW primary_conninfo')).rows[0].primary_conninfo);
    expect(conninfo).toContain(`host=${hostOf('pg1')}`);
    await sql(stack, 'pg3', `ALTER SYSTEM SET primary_conninfo = '${conninfo.replace(`host=${hostOf('pg1')}`, `host=${hostOf('pg2')}`).replace(/'/g, "''")}'`);
    await sql(stack, 'pg3', 'SELECT pg_reload_conf()');
    await waitFor('pg3 to stream from pg2', () => streamsFrom('pg3', 'pg2'), { timeoutMs: 60_000 });
    await load.waitForCommits(30);

    await stack.lab.server('pg1').kill();
    await waitUntilNotStreaming(stack, ['pg2']);
    expect(await streamsFrom('pg3', 'pg2')).toBe(true);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    expect(verdicts(states)).toEqual(['primary-failing', 'primary-dead']);

    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
    const promoted = report.newPrimary!;
    await load.waitForCommits(30);
    const writes = await load.stop();
    await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
  });
});
