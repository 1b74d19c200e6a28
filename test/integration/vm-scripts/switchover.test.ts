import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../../harness/lab/lab';
import { ClusterConfig } from '../../../src/config/schema';
import { isAtOrPast } from '../../../src/domain/lsn';
import { followPrimary, promote, rejoinAsStandby, stopCleanly } from '../../../src/vm-scripts/catalogue';
import { waitFor } from '../../../harness/util/wait';
import { testLabOptions } from '../../support/lab';
import { expectNoSecretIn, labCluster, labNode, labSecrets, runOk, runVmScript, sql, walReceiver } from './support';

/**
 * The planned switchover runbook, one script per step, against a real lab: stop the primary
 * cleanly, promote the standby that has its shutdown checkpoint, re-point the other standby,
 * and rejoin the old primary by plain follow (no rewind needed after a clean switchover).
 */
describe('VM scripts: a clean switchover pg1 -> pg2', () => {
  const options = testLabOptions('31.2');
  let lab: Lab;
  let cluster: ClusterConfig;
  let checkpointLsn: string;
  const node = (name: string) => labNode(cluster, name);

  const rowArrives = (name: string, id: number) =>
    waitFor(`row ${id} on ${name}`, async () => (await sql(lab, name, 'SELECT id FROM switchover_probe WHERE id = $1', [id])).length === 1, { timeoutMs: 60_000, intervalMs: 200 });

  beforeAll(async () => {
    lab = await Lab.up(options);
    cluster = labCluster(lab);
    await sql(lab, 'pg1', 'CREATE TABLE switchover_probe (id int PRIMARY KEY, note text)');
    await sql(lab, 'pg1', "INSERT INTO switchover_probe VALUES (1, 'before the switchover')");
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('stop-clean stops pg1, leaves it configured as a standby of pg2 (S8), and the candidate pg2 receives WAL past its shutdown checkpoint', async () => {
    const call = stopCleanly(cluster, node('pg1'), { primary: node('pg2') });
    const { run, result } = await runOk(call, { watch: true });
    expect(result).toMatchObject({ alreadyStopped: false, timeline: 1, restartsAs: 'standby', primaryHost: node('pg2').host, primaryPort: 5432 });
    expectNoSecretIn(run, lab);
    checkpointLsn = result.checkpointLsn;
    const dataDir = lab.server('pg1').node.dataDir;
    expect(existsSync(join(dataDir, 'standby.signal'))).toBe(true);
    const autoConf = readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8');
    expect(autoConf).toContain(`primary_conninfo = 'host=${node('pg2').host} port=5432 user=${cluster.postgres.replicationUser} passfile=${node('pg1').overrides.passFile} application_name=pg1 connect_timeout=5 sslmode=require'`);
    expect(autoConf).toContain("recovery_target_timeline = 'latest'");
    expect(autoConf.match(/^primary_conninfo/gm)).toHaveLength(1);

    // A retry (the activity's, or a replay) reports the same stop; it does not take the standby.signal for a standby.
    const { result: again } = await runOk(stopCleanly(cluster, node('pg1'), { primary: node('pg2') }));
    expect(again).toEqual({ ...result, alreadyStopped: true });
    expect(readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8')).toBe(autoConf);
    await waitFor(
      'pg2 to receive the shutdown checkpoint',
      async () => {
        const [row] = await sql<{ received: string }>(lab, 'pg2', 'SELECT pg_last_wal_receive_lsn()::text AS received');
        return isAtOrPast(row.received, checkpointLsn);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  it('promote makes pg2 a writable primary on timeline 2; promoting again is a no-op', async () => {
    const { result } = await runOk(promote(cluster, node('pg2')));
    expect(result).toMatchObject({ alreadyPrimary: false, timeline: 2 });
    expect(isAtOrPast(result.currentLsn, checkpointLsn)).toBe(true);
    await sql(lab, 'pg2', "INSERT INTO switchover_probe VALUES (2, 'written on the new primary')");
    const [row] = await sql<{ in_recovery: boolean }>(lab, 'pg2', 'SELECT pg_is_in_recovery() AS in_recovery');
    expect(row.in_recovery).toBe(false);

    const { result: again } = await runOk(promote(cluster, node('pg2')));
    expect(again).toMatchObject({ alreadyPrimary: true, timeline: 2 });
  });

  it('follow re-points pg3 to pg2 and a row written on pg2 arrives; no password leaks', async () => {
    const call = followPrimary(cluster, node('pg3'), node('pg2'), labSecrets(lab));
    const { run, result } = await runOk(call, { watch: true });
    expect(result).toMatchObject({ changed: true, primaryHost: node('pg2').host, senderHost: node('pg2').host, senderPort: 5432, receivedTimeline: 2 });
    expectNoSecretIn(run, lab);

    expect(await walReceiver(lab, 'pg3')).toMatchObject({ status: 'streaming', sender_host: node('pg2').host });
    await sql(lab, 'pg2', "INSERT INTO switchover_probe VALUES (3, 'after follow')");
    await rowArrives('pg3', 3);

    const { result: again } = await runOk(followPrimary(cluster, node('pg3'), node('pg2'), labSecrets(lab)));
    expect(again).toMatchObject({ changed: false, senderHost: node('pg2').host });
  });

  it('rejoin turns the cleanly stopped pg1 into a standby of pg2 by plain follow; no password leaks', async () => {
    const call = rejoinAsStandby(cluster, node('pg1'), node('pg2'), labSecrets(lab));
    const { run, result } = await runOk(call, { watch: true });
    expect(result).toMatchObject({ method: 'follow', alreadyRunning: false, rewindCheck: 'no rewind required', fallbackReason: null, senderHost: node('pg2').host, receivedTimeline: 2 });
    expect(result.keptConfigFiles).toEqual(expect.arrayContaining(['postgresql.conf', 'node.conf', 'pg_hba.conf']));
    expectNoSecretIn(run, lab);

    expect(await walReceiver(lab, 'pg1')).toMatchObject({ status: 'streaming', sender_host: node('pg2').host });
    await sql(lab, 'pg2', "INSERT INTO switchover_probe VALUES (4, 'after rejoin')");
    await rowArrives('pg1', 4);
    // Nothing was lost: every row, including the one written before the switchover.
    expect((await sql<{ id: number }>(lab, 'pg1', 'SELECT id FROM switchover_probe ORDER BY id')).map((r) => r.id)).toEqual([1, 2, 3, 4]);
  });

  it('rejoin again is a no-op on a standby that already streams from pg2', async () => {
    const { result } = await runOk(rejoinAsStandby(cluster, node('pg1'), node('pg2'), labSecrets(lab)));
    expect(result).toMatchObject({ method: 'follow', alreadyRunning: true, senderHost: node('pg2').host });
  });

  it('the lab sees one primary (pg2) and two standbys streaming from it', async () => {
    const status = await lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'standby', 2],
      ['pg2', 'primary', 2],
      ['pg3', 'standby', 2],
    ]);
  });

  it('rejoin refuses to touch a running primary', async () => {
    const run = await runVmScript(rejoinAsStandby(cluster, node('pg2'), node('pg1'), labSecrets(lab)));
    expect(run.result).toMatchObject({ ok: false, script: 'rejoin', step: 'check-node' });
    expect(String(run.result.error)).toMatch(/running as a primary/);
  });
});
