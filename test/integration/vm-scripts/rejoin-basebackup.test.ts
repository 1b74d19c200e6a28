import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../../harness/lab/lab';
import { ClusterConfig } from '../../../src/config/schema';
import { promote, rejoinAsStandby, stopCleanly } from '../../../src/vm-scripts/catalogue';
import { waitFor } from '../../../harness/util/wait';
import { testLabOptions } from '../../support/lab';
import { expectNoSecretIn, labCluster, labNode, labSecrets, runOk, sql, stopStandbyNotAheadOf, walReceiver } from './support';

/**
 * When pg_rewind cannot work (here: the old primary's WAL around the fork point is gone, as
 * after WAL recycling), rejoin re-clones with pg_basebackup into a fresh directory, swaps it in,
 * keeps the node's own config files and removes the old directory once the new one streams.
 */
describe('VM scripts: rejoin falls back to pg_basebackup when a rewind is impossible', () => {
  const options = testLabOptions('31.4');
  let lab: Lab;
  let cluster: ClusterConfig;
  let nodeConf: string;
  let dataDir: string;
  const node = (name: string) => labNode(cluster, name);

  beforeAll(async () => {
    lab = await Lab.up(options);
    cluster = labCluster(lab);
    dataDir = lab.server('pg1').node.dataDir;
    nodeConf = readFileSync(join(dataDir, 'node.conf'), 'utf8');
    await sql(lab, 'pg1', 'CREATE TABLE reclone_probe (id int PRIMARY KEY, note text)');
    await sql(lab, 'pg1', "INSERT INTO reclone_probe VALUES (1, 'common history')");
    for (const standby of ['pg2', 'pg3']) {
      await waitFor(`row 1 on ${standby}`, async () => (await sql(lab, standby, 'SELECT 1 FROM reclone_probe WHERE id = 1')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
    }
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('diverges across a WAL segment switch, then loses the WAL a rewind would need', async () => {
    await stopStandbyNotAheadOf(lab, 'pg3', 'pg1', 'pg2');
    await runOk(promote(cluster, node('pg2')));
    await sql(lab, 'pg1', "INSERT INTO reclone_probe VALUES (2, 'only on the old primary')");
    await sql(lab, 'pg1', 'SELECT pg_switch_wal()');
    await sql(lab, 'pg1', "INSERT INTO reclone_probe VALUES (5, 'only on the old primary, next segment')");
    await sql(lab, 'pg2', "INSERT INTO reclone_probe VALUES (3, 'only on the new primary')");
    // Stopped as a switchover would (S8: configured as a standby of pg2): the re-clone must not mind.
    const { result } = await runOk(stopCleanly(cluster, node('pg1'), { primary: node('pg2') }));

    // Keep only the segment holding the shutdown checkpoint: the fork point's segment is gone.
    const walDir = join(dataDir, 'pg_wal');
    const removed = readdirSync(walDir).filter((file) => /^[0-9A-F]{24}$/.test(file) && file !== result.redoWalFile);
    expect(removed.length).toBeGreaterThan(0);
    for (const file of removed) rmSync(join(walDir, file));
  });

  it('rejoin finds pg_rewind impossible and re-clones pg1 from pg2, keeping its config files', async () => {
    const { run, result } = await runOk(rejoinAsStandby(cluster, node('pg1'), node('pg2'), labSecrets(lab)), { watch: true });
    expect(result).toMatchObject({ method: 'pg_basebackup', alreadyRunning: false, senderHost: node('pg2').host, receivedTimeline: 2 });
    expect(result.fallbackReason).toMatch(/^pg_rewind/);
    expect(result.fallbackReason).toMatch(/could not open file/);
    expectNoSecretIn(run, lab);

    expect(readFileSync(join(dataDir, 'node.conf'), 'utf8')).toBe(nodeConf);
    expect(existsSync(join(dataDir, 'standby.signal'))).toBe(true);
    for (const leftover of ['.pgfo-old', '.pgfo-new', '.pgfo-conf', '.pgfo-failed']) expect(existsSync(`${dataDir}${leftover}`)).toBe(false);

    expect(await walReceiver(lab, 'pg1')).toMatchObject({ status: 'streaming', sender_host: node('pg2').host, received_tli: 2 });
    await sql(lab, 'pg2', "INSERT INTO reclone_probe VALUES (4, 'after the re-clone')");
    await waitFor('row 4 on pg1', async () => (await sql(lab, 'pg1', 'SELECT 1 FROM reclone_probe WHERE id = 4')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
    expect((await sql<{ id: number }>(lab, 'pg1', 'SELECT id FROM reclone_probe ORDER BY id')).map((r) => r.id)).toEqual([1, 3, 4]);
  });

  it('ends with pg1 and pg3 streaming from pg2', async () => {
    await runOk(rejoinAsStandby(cluster, node('pg3'), node('pg2'), labSecrets(lab)));
    const status = await lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'standby', 2],
      ['pg2', 'primary', 2],
      ['pg3', 'standby', 2],
    ]);
  });
});
