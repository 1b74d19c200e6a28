import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../../harness/lab/lab';
import { ClusterConfig } from '../../../src/config/schema';
import { promote, rejoinAsStandby, startServer, stopCleanly } from '../../../src/vm-scripts/catalogue';
import { waitFor } from '../../../harness/util/wait';
import { testLabOptions } from '../../support/lab';
import { controldata, expectNoSecretIn, labCluster, labNode, labSecrets, runOk, sql, stopStandbyNotAheadOf, walReceiver } from './support';

/**
 * Split brain, then repair: pg2 is promoted while pg1 keeps running and takes a write pg2 never
 * gets. pg1's WAL now runs past the fork point, so plain follow is impossible: rejoin must use
 * pg_rewind, and pg1 must lose the divergent write and keep its own config files.
 */
describe('VM scripts: rejoin of a diverged old primary uses pg_rewind', () => {
  const options = testLabOptions('31.3');
  let lab: Lab;
  let cluster: ClusterConfig;
  let nodeConf: string;
  const node = (name: string) => labNode(cluster, name);

  beforeAll(async () => {
    lab = await Lab.up(options);
    cluster = labCluster(lab);
    nodeConf = readFileSync(join(lab.server('pg1').node.dataDir, 'node.conf'), 'utf8');
    await sql(lab, 'pg1', 'CREATE TABLE diverge_probe (id int PRIMARY KEY, note text)');
    await sql(lab, 'pg1', "INSERT INTO diverge_probe VALUES (1, 'common history')");
    for (const standby of ['pg2', 'pg3']) {
      await waitFor(`row 1 on ${standby}`, async () => (await sql(lab, standby, 'SELECT 1 FROM diverge_probe WHERE id = 1')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
    }
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('diverges: pg2 is promoted while pg1 keeps running and takes a write', async () => {
    // pg3 is stopped first so that pg1's divergent WAL cannot reach it.
    await stopStandbyNotAheadOf(lab, 'pg3', 'pg1', 'pg2');
    const { result } = await runOk(promote(cluster, node('pg2')));
    expect(result.timeline).toBe(2);
    await sql(lab, 'pg1', "INSERT INTO diverge_probe VALUES (2, 'only on the old primary')");
    await sql(lab, 'pg2', "INSERT INTO diverge_probe VALUES (3, 'only on the new primary')");
    // Stopped the way a switchover stops it (S8: standby.signal and primary_conninfo for pg2 already
    // in place): pg_rewind needs exactly this clean shutdown, and must not mind the standby setup.
    const { result: stopped } = await runOk(stopCleanly(cluster, node('pg1'), { primary: node('pg2') }));
    expect(stopped).toMatchObject({ timeline: 1, restartsAs: 'standby', primaryHost: node('pg2').host });
  });

  it('rejoin rewinds pg1 with pg_rewind, restores its own config files and streams from pg2', async () => {
    const { run, result } = await runOk(rejoinAsStandby(cluster, node('pg1'), node('pg2'), labSecrets(lab)), { watch: true });
    expect(result).toMatchObject({ method: 'pg_rewind', alreadyRunning: false, fallbackReason: null, senderHost: node('pg2').host, receivedTimeline: 2 });
    expect(result.rewindCheck).toMatch(/^servers diverged at WAL location [0-9A-F]+\/[0-9A-F]+ on timeline 1$/);
    expect(result.keptConfigFiles).toEqual(expect.arrayContaining(['postgresql.conf', 'node.conf', 'pg_hba.conf', 'pg_ident.conf', 'postgresql.auto.conf']));
    expectNoSecretIn(run, lab);

    // pg_rewind copied pg2's node.conf over pg1's; rejoin put pg1's own back.
    expect(readFileSync(join(lab.server('pg1').node.dataDir, 'node.conf'), 'utf8')).toBe(nodeConf);
    expect(await walReceiver(lab, 'pg1')).toMatchObject({ status: 'streaming', sender_host: node('pg2').host, received_tli: 2 });
    const [where] = await sql<{ addr: string }>(lab, 'pg1', 'SELECT host(inet_server_addr()) AS addr');
    expect(where.addr).toBe(node('pg1').host);

    await sql(lab, 'pg2', "INSERT INTO diverge_probe VALUES (4, 'after the rewind')");
    await waitFor('row 4 on pg1', async () => (await sql(lab, 'pg1', 'SELECT 1 FROM diverge_probe WHERE id = 4')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
    // The divergent write is gone; the new primary's history is pg1's history now.
    expect((await sql<{ id: number }>(lab, 'pg1', 'SELECT id FROM diverge_probe ORDER BY id')).map((r) => r.id)).toEqual([1, 3, 4]);
  });

  it('rejoin brings back the standby that stopped before the fork (pg3) by plain follow', async () => {
    const { result } = await runOk(rejoinAsStandby(cluster, node('pg3'), node('pg2'), labSecrets(lab)));
    expect(result).toMatchObject({ method: 'follow', rewindCheck: 'no rewind required', senderHost: node('pg2').host });
    const status = await lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'standby', 2],
      ['pg2', 'primary', 2],
      ['pg3', 'standby', 2],
    ]);
  });

  it('a crashed, diverged primary (unplanned failover) gets crash recovery, then pg_rewind', async () => {
    // pg2 is the primary now. pg1 is promoted while pg2 keeps writing, then pg2 dies (immediate stop).
    await stopStandbyNotAheadOf(lab, 'pg3', 'pg2', 'pg1');
    const { result: promoted } = await runOk(promote(cluster, node('pg1')));
    expect(promoted.timeline).toBe(3);
    await sql(lab, 'pg2', "INSERT INTO diverge_probe VALUES (5, 'lost with the crashed primary')");
    await lab.server('pg2').stop('immediate');
    expect(controldata(lab, 'pg2')['Database cluster state']).toBe('in production');

    const { result } = await runOk(rejoinAsStandby(cluster, node('pg2'), node('pg1'), labSecrets(lab)));
    expect(result).toMatchObject({ method: 'pg_rewind', crashRecovery: true, fallbackReason: null, senderHost: node('pg1').host, receivedTimeline: 3 });
    await sql(lab, 'pg1', "INSERT INTO diverge_probe VALUES (6, 'on timeline 3')");
    await waitFor('row 6 on pg2', async () => (await sql(lab, 'pg2', 'SELECT 1 FROM diverge_probe WHERE id = 6')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
    expect((await sql<{ id: number }>(lab, 'pg2', 'SELECT id FROM diverge_probe ORDER BY id')).map((r) => r.id)).toEqual([1, 3, 4, 6]);

    const { result: third } = await runOk(rejoinAsStandby(cluster, node('pg3'), node('pg1'), labSecrets(lab)));
    expect(third).toMatchObject({ method: 'follow', crashRecovery: false, senderHost: node('pg1').host });
    const status = await lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'primary', 3],
      ['pg2', 'standby', 3],
      ['pg3', 'standby', 3],
    ]);
  });

  it('a fenced, diverged primary that something restarted before its rejoin comes back read-only (S8), and rejoin stops and rewinds it', async () => {
    // pg1 is the primary (timeline 3). pg2 is promoted while pg1 keeps writing; then pg1 is fenced
    // the way a failover stops it before any candidate is chosen: no new upstream.
    await stopStandbyNotAheadOf(lab, 'pg3', 'pg1', 'pg2');
    const { result: promoted } = await runOk(promote(cluster, node('pg2')));
    expect(promoted.timeline).toBe(4);
    await sql(lab, 'pg1', "INSERT INTO diverge_probe VALUES (7, 'lost with the fenced primary')");
    const { result: fenced } = await runOk(stopCleanly(cluster, node('pg1'), null));
    expect(fenced).toMatchObject({ restartsAs: 'standby', primaryHost: null, primaryPort: null, timeline: 3 });

    // A reboot starts it again before the rejoin: a standby (its old primary_conninfo names pg2),
    // read-only, and unable to follow pg2 since its WAL runs past pg2's fork point.
    const { result: restarted } = await runOk(startServer(cluster, node('pg1')));
    expect(restarted).toMatchObject({ alreadyRunning: false, role: 'standby', standbySignalRemoved: false });
    await expect(sql(lab, 'pg1', "INSERT INTO diverge_probe VALUES (8, 'never')")).rejects.toMatchObject({ code: '25006' });

    const { result } = await runOk(rejoinAsStandby(cluster, node('pg1'), node('pg2'), labSecrets(lab), { waitSeconds: 20 }));
    expect(result).toMatchObject({ method: 'pg_rewind', alreadyRunning: false, senderHost: node('pg2').host, receivedTimeline: 4 });
    expect(result.fallbackReason).toMatch(/^running as a standby but not streaming from .*: the primary answers, so it cannot follow from where it is; stopped to rejoin it$/);
    expect(result.rewindCheck).toMatch(/^servers diverged at WAL location .* on timeline 3$/);
    await sql(lab, 'pg2', "INSERT INTO diverge_probe VALUES (9, 'on timeline 4')");
    await waitFor('row 9 on pg1', async () => (await sql(lab, 'pg1', 'SELECT 1 FROM diverge_probe WHERE id = 9')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
    expect((await sql<{ id: number }>(lab, 'pg1', 'SELECT id FROM diverge_probe ORDER BY id')).map((r) => r.id)).toEqual([1, 3, 4, 6, 9]);

    await runOk(rejoinAsStandby(cluster, node('pg3'), node('pg2'), labSecrets(lab)));
    const status = await lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'standby', 4],
      ['pg2', 'primary', 4],
      ['pg3', 'standby', 4],
    ]);
  });
});
