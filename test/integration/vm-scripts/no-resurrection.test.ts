import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../../harness/lab/lab';
import { ClusterConfig } from '../../../src/config/schema';
import { inspectVm, promote, rejoinAsStandby, startServer, stopCleanly } from '../../../src/vm-scripts/catalogue';
import { waitFor } from '../../../harness/util/wait';
import { testLabOptions } from '../../support/lab';
import { controldata, labCluster, labNode, labSecrets, runOk, runVmScript, sql, walReceiver } from './support';

/**
 * S8 (docs/invariants.md), no resurrection: a switchover stopped the old primary pg1 (stop-clean,
 * candidate pg2) and then the control plane went away before the rejoin. Whatever starts pg1 again
 * - a reboot, `systemctl start` - must start a read-only standby, which follows pg2 once pg2 is
 * promoted; only the rollback's start as the primary may bring a primary back, and only from a
 * primary's clean shutdown.
 */
describe('VM scripts: a primary stopped by stop-clean never comes back writable by itself (S8)', () => {
  const options = testLabOptions('31.5');
  let lab: Lab;
  let cluster: ClusterConfig;
  const node = (name: string) => labNode(cluster, name);
  const dataDir = (name: string) => lab.server(name).node.dataDir;
  const rowArrives = (name: string, id: number) =>
    waitFor(`row ${id} on ${name}`, async () => (await sql(lab, name, 'SELECT id FROM resurrection_probe WHERE id = $1', [id])).length === 1, { timeoutMs: 60_000, intervalMs: 200 });

  beforeAll(async () => {
    lab = await Lab.up(options);
    cluster = labCluster(lab);
    await sql(lab, 'pg1', 'CREATE TABLE resurrection_probe (id int PRIMARY KEY, note text)');
    await sql(lab, 'pg1', "INSERT INTO resurrection_probe VALUES (1, 'before the switchover')");
    await rowArrives('pg2', 1);
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('stop-clean stops pg1 as a switchover does (candidate pg2); a retry reports the same checkpoint', async () => {
    const { result } = await runOk(stopCleanly(cluster, node('pg1'), { primary: node('pg2') }));
    expect(result).toMatchObject({ alreadyStopped: false, clusterState: 'shut down', restartsAs: 'standby', primaryHost: node('pg2').host });
    const { result: again } = await runOk(stopCleanly(cluster, node('pg1'), { primary: node('pg2') }));
    expect(again).toEqual({ ...result, alreadyStopped: true });
  });

  it('started again by the plain start (a reboot, a service restart), pg1 is a read-only standby: a write is refused with 25006', async () => {
    const { result } = await runOk(startServer(cluster, node('pg1')));
    expect(result).toMatchObject({ alreadyRunning: false, role: 'standby', standbySignalRemoved: false });
    const [row] = await sql<{ in_recovery: boolean }>(lab, 'pg1', 'SELECT pg_is_in_recovery() AS in_recovery');
    expect(row.in_recovery).toBe(true);
    await expect(sql(lab, 'pg1', "INSERT INTO resurrection_probe VALUES (2, 'must not be written')")).rejects.toMatchObject({ code: '25006' });
    await expect(sql(lab, 'pg1', 'CREATE TABLE resurrected (id int)')).rejects.toMatchObject({ code: '25006' });
  });

  it('stop-clean and start as the primary both refuse the running standby, changing nothing', async () => {
    const stop = await runVmScript(stopCleanly(cluster, node('pg1'), { primary: node('pg2') }));
    expect(stop.result).toMatchObject({ ok: false, script: 'stop-clean', step: 'check' });
    expect(String(stop.result.error)).toMatch(/is a standby .*nothing was changed/);
    const start = await runVmScript(startServer(cluster, node('pg1'), { startAs: 'primary' }));
    expect(start.result).toMatchObject({ ok: false, script: 'start', alreadyRunning: true, role: 'standby' });
    expect(await lab.server('pg1').isRunning()).toBe(true);
    const [row] = await sql<{ in_recovery: boolean }>(lab, 'pg1', 'SELECT pg_is_in_recovery() AS in_recovery');
    expect(row.in_recovery).toBe(true);
  });

  it('once pg2 is promoted, pg1 follows it onto timeline 2 by itself and receives its writes', async () => {
    const { result } = await runOk(promote(cluster, node('pg2')));
    expect(result).toMatchObject({ alreadyPrimary: false, timeline: 2 });
    await sql(lab, 'pg2', "INSERT INTO resurrection_probe VALUES (3, 'written on the new primary')");
    await rowArrives('pg1', 3);
    await waitFor('pg1 to stream from pg2 on timeline 2', async () => {
      const receiver = await walReceiver(lab, 'pg1');
      return receiver?.status === 'streaming' && receiver.sender_host === node('pg2').host && receiver.received_tli === 2;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    expect((await sql<{ id: number }>(lab, 'pg1', 'SELECT id FROM resurrection_probe ORDER BY id')).map((r) => r.id)).toEqual([1, 3]);
  });

  it('stopped again after running as a standby, pg1 is never started as the primary: "shut down in recovery" is refused', async () => {
    await lab.server('pg1').stop('fast');
    expect(controldata(lab, 'pg1')['Database cluster state']).toBe('shut down in recovery');
    const run = await runVmScript(startServer(cluster, node('pg1'), { startAs: 'primary' }));
    expect(run.result).toMatchObject({ ok: false, script: 'start', step: 'start-as-primary', clusterState: 'shut down in recovery' });
    expect(await lab.server('pg1').isRunning()).toBe(false);
    expect(existsSync(join(dataDir('pg1'), 'standby.signal'))).toBe(true);
    const stop = await runVmScript(stopCleanly(cluster, node('pg1'), null));
    expect(stop.result).toMatchObject({ ok: false, script: 'stop-clean', step: 'check', clusterState: 'shut down in recovery' });
    const { result: look } = await runOk(inspectVm(cluster, node('pg1')));
    expect(look).toMatchObject({ running: false, clusterState: 'shut down in recovery', standbySignal: true });
  });

  it('rejoin brings it back by plain follow (no pg_rewind: before PostgreSQL 16 it misreads such a standby), pg3 follows pg2; one primary', async () => {
    const { result } = await runOk(rejoinAsStandby(cluster, node('pg1'), node('pg2'), labSecrets(lab)));
    expect(result).toMatchObject({ method: 'follow', rewindCheck: null, fallbackReason: null, senderHost: node('pg2').host, receivedTimeline: 2 });
    await sql(lab, 'pg2', "INSERT INTO resurrection_probe VALUES (4, 'after the rejoin')");
    await rowArrives('pg1', 4);
    await runOk(rejoinAsStandby(cluster, node('pg3'), node('pg2'), labSecrets(lab)));
    const status = await lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'standby', 2],
      ['pg2', 'primary', 2],
      ['pg3', 'standby', 2],
    ]);
  });
});
