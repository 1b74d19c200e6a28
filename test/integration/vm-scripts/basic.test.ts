import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../../harness/lab/lab';
import { labOsOwner, makeOwnedDir } from '../../../harness/lab/os-owner';
import { isRoot, run } from '../../../harness/util/exec';
import { ClusterConfig } from '../../../src/config/schema';
import { inspectVm, promote, rejoinAsStandby, startServer, stopCleanly } from '../../../src/vm-scripts/catalogue';
import { waitFor } from '../../../harness/util/wait';
import { testLabOptions } from '../../support/lab';
import { controldata, labCluster, labNode, labSecrets, rejoinLock, runOk, runVmScript, sql, walReceiver } from './support';

/** inspect, stop-clean and start against a real lab; how every script fails. */
describe('VM scripts: inspect, stop-clean, start, and failures', () => {
  const options = testLabOptions('31.1');
  let lab: Lab;
  let cluster: ClusterConfig;

  beforeAll(async () => {
    lab = await Lab.up(options);
    cluster = labCluster(lab);
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('inspect tells a running primary from a running standby', async () => {
    const { result: primary } = await runOk(inspectVm(cluster, labNode(cluster, 'pg1')));
    expect(primary).toMatchObject({ ok: true, script: 'inspect', node: 'pg1', running: true, serviceActive: null, clusterState: 'in production', timeline: 1, standbySignal: false, walLogHints: true, pgVersion: '15' });
    const { result: standby } = await runOk(inspectVm(cluster, labNode(cluster, 'pg2')));
    expect(standby).toMatchObject({ running: true, clusterState: 'in archive recovery', timeline: 1, standbySignal: true });
    expect(standby.systemIdentifier).toBe(primary.systemIdentifier);
  });

  const toPg2 = () => ({ primary: labNode(cluster, 'pg2') });

  it('stop-clean stops the primary and reports the shutdown checkpoint pg_controldata agrees with; it is idempotent', async () => {
    const first = await runOk(stopCleanly(cluster, labNode(cluster, 'pg1'), toPg2()));
    const control = controldata(lab, 'pg1');
    expect(control['Database cluster state']).toBe('shut down');
    expect(first.result).toMatchObject({
      alreadyStopped: false,
      clusterState: 'shut down',
      checkpointLsn: control['Latest checkpoint location'],
      redoLsn: control["Latest checkpoint's REDO location"],
      timeline: Number(control["Latest checkpoint's TimeLineID"]),
    });
    // A shutdown checkpoint is its own REDO point.
    expect(first.result.redoLsn).toBe(first.result.checkpointLsn);
    expect(await lab.server('pg1').isRunning()).toBe(false);

    expect(first.result).toMatchObject({ restartsAs: 'standby', primaryHost: labNode(cluster, 'pg2').host, primaryPort: 5432 });

    // Twice (and three times, without an upstream this time): the same stop, the same checkpoint.
    const again = await runOk(stopCleanly(cluster, labNode(cluster, 'pg1'), toPg2()));
    expect(again.result).toEqual({ ...first.result, alreadyStopped: true });
    const third = await runOk(stopCleanly(cluster, labNode(cluster, 'pg1'), null));
    expect(third.result).toEqual({ ...first.result, alreadyStopped: true, primaryHost: null, primaryPort: null });

    const { result: stopped } = await runOk(inspectVm(cluster, labNode(cluster, 'pg1')));
    expect(stopped).toMatchObject({ running: false, clusterState: 'shut down', checkpointLsn: first.result.checkpointLsn, standbySignal: true, recoverySignal: false });
  });

  it('start as the primary (a rollback) removes the standby.signal and brings the stopped primary back, accepting writes; the standbys stream from it; a second start only confirms', async () => {
    const { result } = await runOk(startServer(cluster, labNode(cluster, 'pg1'), { startAs: 'primary' }));
    expect(result).toMatchObject({ alreadyRunning: false, role: 'primary', standbySignalRemoved: true });
    await sql(lab, 'pg1', 'CREATE TABLE IF NOT EXISTS basic_probe (id int)');
    await sql(lab, 'pg1', 'INSERT INTO basic_probe VALUES (1)');
    const { result: again } = await runOk(startServer(cluster, labNode(cluster, 'pg1'), { startAs: 'primary' }));
    expect(again).toMatchObject({ alreadyRunning: true, role: 'primary', standbySignalRemoved: false });
    await lab.waitUntilHealthy();
    for (const standby of ['pg2', 'pg3']) {
      await waitFor(`the row on ${standby}`, async () => (await sql(lab, standby, "SELECT 1 FROM pg_tables WHERE tablename = 'basic_probe'")).length === 1 && (await sql(lab, standby, 'SELECT 1 FROM basic_probe')).length === 1, { timeoutMs: 60_000, intervalMs: 200 });
      expect(await walReceiver(lab, standby)).toMatchObject({ status: 'streaming', sender_host: labNode(cluster, 'pg1').host, received_tli: 1 });
    }
  });

  it('start refuses an unknown PGFO_START_AS, and stop-clean an upstream given in part, changing nothing', async () => {
    const badStart = await runVmScript(startServer(cluster, labNode(cluster, 'pg1')), { override: { PGFO_START_AS: 'standby' } });
    expect(badStart.result).toMatchObject({ ok: false, script: 'start', step: 'validate' });
    expect(String(badStart.result.error)).toContain('parameter PGFO_START_AS must be "primary"');
    const partial = await runVmScript(stopCleanly(cluster, labNode(cluster, 'pg1'), null), { override: { PGFO_REPLICATION_USER: 'replicator' } });
    expect(partial.result).toMatchObject({ ok: false, script: 'stop-clean', step: 'validate', error: 'missing parameter PGFO_PRIMARY_HOST (an environment variable)' });
    expect(await lab.server('pg1').isRunning()).toBe(true);
  });

  it('stop-clean refuses a standby without stopping it', async () => {
    const run = await runVmScript(stopCleanly(cluster, labNode(cluster, 'pg3'), toPg2()));
    expect(run.result).toMatchObject({ ok: false, script: 'stop-clean', node: 'pg3', step: 'check' });
    expect(String(run.result.error)).toMatch(/is a standby .*nothing was changed/);
    expect(await lab.server('pg3').isRunning()).toBe(true);
  });

  it('start brings a stopped standby back as a standby; stop-clean and start as the primary refuse it, changing nothing', async () => {
    await lab.server('pg3').stop('fast');
    expect(controldata(lab, 'pg3')['Database cluster state']).toBe('shut down in recovery');
    const stop = await runVmScript(stopCleanly(cluster, labNode(cluster, 'pg3'), null));
    expect(stop.result).toMatchObject({ ok: false, script: 'stop-clean', step: 'check', clusterState: 'shut down in recovery' });
    expect(String(stop.result.error)).toMatch(/is a standby .*nothing was changed/);
    const asPrimary = await runVmScript(startServer(cluster, labNode(cluster, 'pg3'), { startAs: 'primary' }));
    expect(asPrimary.result).toMatchObject({ ok: false, script: 'start', step: 'start-as-primary', clusterState: 'shut down in recovery' });
    expect(String(asPrimary.result.error)).toMatch(/not a primary's clean shutdown .*nothing was changed/);
    expect(await lab.server('pg3').isRunning()).toBe(false);
    expect(existsSync(join(lab.server('pg3').node.dataDir, 'standby.signal'))).toBe(true);

    const { result } = await runOk(startServer(cluster, labNode(cluster, 'pg3')));
    expect(result).toMatchObject({ alreadyRunning: false, role: 'standby', standbySignalRemoved: false });
    // A running standby: start as the primary never promotes it.
    const running = await runVmScript(startServer(cluster, labNode(cluster, 'pg3'), { startAs: 'primary' }));
    expect(running.result).toMatchObject({ ok: false, script: 'start', step: 'wait-ready', alreadyRunning: true, role: 'standby' });
    expect(String(running.result.error)).toMatch(/runs as a standby .*never promotes; it was already running; nothing was changed/);
    await lab.waitUntilHealthy();
  });

  it('stop-clean reports a crashed primary (no shutdown checkpoint) as ok:false', async () => {
    await lab.server('pg1').stop('immediate');
    const run = await runVmScript(stopCleanly(cluster, labNode(cluster, 'pg1'), toPg2()));
    expect(run.result).toMatchObject({ ok: false, step: 'controldata', clusterState: 'in production' });
    expect(String(run.result.error)).toMatch(/did not shut down cleanly/);
    // Only a clean stop is configured as a standby: a crashed primary is left as it is.
    expect(existsSync(join(lab.server('pg1').node.dataDir, 'standby.signal'))).toBe(false);
    await runOk(startServer(cluster, labNode(cluster, 'pg1')));
    await lab.waitUntilHealthy();
  });

  it('a wrong data directory fails validation with ok:false naming the parameter, as the last line', async () => {
    const run = await runVmScript(stopCleanly(cluster, labNode(cluster, 'pg1'), toPg2()), { override: { PGFO_DATA_DIR: '/nonexistent/data' } });
    expect(run.result).toMatchObject({ ok: false, script: 'stop-clean', node: 'pg1', step: 'validate' });
    expect(String(run.result.error)).toContain('PGFO_DATA_DIR=/nonexistent/data is not a PostgreSQL data directory');
    expect(run.exitCode).toBe(1);
    expect(run.stdout.trim().split('\n').pop()).toMatch(/^PGFO_RESULT \{"ok":false/);
    expect(await lab.server('pg1').isRunning()).toBe(true);
  });

  it('a missing or malformed parameter is named in the error', async () => {
    const missing = await runVmScript(inspectVm(cluster, labNode(cluster, 'pg1')), { override: { PGFO_BIN_DIR: undefined } });
    expect(missing.result).toMatchObject({ ok: false, step: 'validate', error: 'missing parameter PGFO_BIN_DIR (an environment variable)' });
    const badPort = await runVmScript(inspectVm(cluster, labNode(cluster, 'pg1')), { override: { PGFO_PORT: '5432; rm -rf /' } });
    expect(badPort.result).toMatchObject({ ok: false, step: 'validate' });
    expect(String(badPort.result.error)).toContain('parameter PGFO_PORT must be a port number');
  });

  it('a failing PostgreSQL program is reported with its step and its own error message', async () => {
    const run = await runVmScript(promote(cluster, labNode(cluster, 'pg2')), { override: { PGFO_ADMIN_USER: 'nosuchrole' } });
    expect(run.result).toMatchObject({ ok: false, script: 'promote', step: 'check' });
    expect(String(run.result.error)).toMatch(/^psql exited with 2: .*nosuchrole/);
    const status = await lab.status();
    expect(status.nodes.find((n) => n.name === 'pg2')?.role).toBe('standby');
  });

  it('rejoin refuses to run while another rejoin of the same data directory holds its lock, whichever user holds it', async () => {
    const pg3 = labNode(cluster, 'pg3');
    const lock = rejoinLock(pg3.overrides.dataDirectory!);
    // Under root the holder is the OS user, as a rejoin the node agent runs: Run Command's (root's) must wait for it.
    const holdAs = isRoot() ? ['runuser', '-u', labOsOwner().user, '--'] : [];
    const [command, ...args] = [...holdAs, 'flock', lock, 'sleep', '120'];
    const holder = spawn(command, args, { stdio: 'ignore', detached: true });
    try {
      await waitFor('the lock to be held', () => spawnSync('flock', ['-n', lock, 'true']).status !== 0, { timeoutMs: 10_000, intervalMs: 20 });
      const blocked = await runVmScript(rejoinAsStandby(cluster, pg3, labNode(cluster, 'pg1'), labSecrets(lab)));
      expect(blocked.result).toMatchObject({ ok: false, script: 'rejoin', step: 'lock' });
      expect(String(blocked.result.error)).toMatch(/another rejoin of .* is still running/);
    } finally {
      process.kill(-holder.pid!, 'SIGKILL'); // runuser, flock and its sleep, which holds the lock too
    }
    expect((await lab.status()).nodes.find((n) => n.name === 'pg3')).toMatchObject({ role: 'standby', streaming: true });
  });

  it("rejoin copies the node's configuration as the OS user: a link it planted for the saved copy cannot make root write into root's directory", async () => {
    const pg3 = labNode(cluster, 'pg3');
    const dataDir = pg3.overrides.dataDirectory!;
    const rootOnly = join(options.stateDir!, 'root-only');
    mkdirSync(rootOnly, { mode: 0o755 });
    await lab.server('pg3').stop();
    symlinkSync(rootOnly, `${dataDir}.pgfo-conf`);

    const refused = await runVmScript(rejoinAsStandby(cluster, pg3, labNode(cluster, 'pg1'), labSecrets(lab)));
    expect(refused.result).toMatchObject({ ok: false, script: 'rejoin', step: 'save-config' });
    expect(String(refused.result.error)).toMatch(/Permission denied/);
    expect(readdirSync(rootOnly)).toEqual([]);

    rmSync(`${dataDir}.pgfo-conf`);
    await runOk(rejoinAsStandby(cluster, pg3, labNode(cluster, 'pg1'), labSecrets(lab)));
    expect((await lab.status()).nodes.find((n) => n.name === 'pg3')).toMatchObject({ role: 'standby', streaming: true });
  });

  it('rejoin works on a data directory in a directory only root can write (a root-owned mount point): root saves the configuration there itself', async () => {
    const pg3 = labNode(cluster, 'pg3');
    const home = pg3.overrides.dataDirectory!;
    const mount = join(options.stateDir!, 'root-mount');
    const moved = join(mount, 'data');
    mkdirSync(mount, { mode: 0o755 });
    await lab.server('pg3').stop();
    renameSync(home, moved);
    const pgCtl = (...args: string[]) => run(join(lab.manifest.binDir, 'pg_ctl'), ['-D', moved, ...args], { asUser: labOsOwner().user, timeoutMs: 60_000 });
    try {
      const { result } = await runOk(rejoinAsStandby(cluster, pg3, labNode(cluster, 'pg1'), labSecrets(lab)), { override: { PGFO_DATA_DIR: moved } });
      expect(result).toMatchObject({ method: 'follow' });
      expect(result.keptConfigFiles).toEqual(expect.arrayContaining(['node.conf', 'postgresql.conf']));
      expect(existsSync(`${moved}.pgfo-conf`)).toBe(false);
    } finally {
      await pgCtl('stop', '-m', 'fast', '-w').catch(() => undefined);
      renameSync(moved, home);
    }
    await lab.server('pg3').start();
    await waitFor('pg3 to stream again', async () => (await lab.status()).nodes.some((n) => n.name === 'pg3' && n.streaming), { timeoutMs: 60_000, intervalMs: 200 });
  });

  it('rejoin refuses to replace the data directory of another database system', async () => {
    const owner = labOsOwner();
    const foreign = join(options.stateDir!, 'foreign');
    makeOwnedDir(foreign, owner, 0o755);
    await run(join(lab.manifest.binDir, 'initdb'), ['-D', join(foreign, 'data'), '-U', 'postgres', '--auth=trust'], { asUser: owner.user, timeoutMs: 180_000 });
    const run1 = await runVmScript(rejoinAsStandby(cluster, labNode(cluster, 'pg3'), labNode(cluster, 'pg1'), labSecrets(lab)), { override: { PGFO_DATA_DIR: join(foreign, 'data') } });
    expect(run1.result).toMatchObject({ ok: false, script: 'rejoin', step: 'controldata' });
    expect(String(run1.result.error)).toMatch(/belongs to another database system .*refusing to replace it/);
    expect(existsSync(join(foreign, 'data.pgfo-conf'))).toBe(false);
    expect(existsSync(join(foreign, 'data', 'standby.signal'))).toBe(false);
  });

  it('with systemd control, drives the server through its unit (a systemctl stand-in here: the lab has no systemd)', async () => {
    const pg1 = lab.server('pg1').node;
    const shimDir = join(options.stateDir!, 'systemd-shim');
    mkdirSync(shimDir, { recursive: true });
    const pgCtl = `runuser -u ${labOsOwner().user} -- ${join(lab.manifest.binDir, 'pg_ctl')} -D ${pg1.dataDir}`;
    writeFileSync(
      join(shimDir, 'systemctl'),
      [
        '#!/bin/bash',
        `echo "systemctl $*" >> ${join(shimDir, 'calls.log')}`,
        'case "$1 ${@: -1}" in',
        `  "start postgresql@15-pg1") ${pgCtl} -l ${pg1.logFile} -w start >/dev/null ;;`,
        `  "stop postgresql@15-pg1") ${pgCtl} -m fast -w stop >/dev/null ;;`,
        `  "is-active postgresql@15-pg1") ${pgCtl} status >/dev/null ;;`,
        `  "is-system-running is-system-running") cat ${join(shimDir, 'system-state')} 2>/dev/null || echo running ;;`,
        '  *) echo "unexpected: $*" >&2; exit 2 ;;',
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const systemd = { ...cluster, postgres: { ...cluster.postgres, control: 'systemd' as const, serviceName: 'postgresql@15-pg1' } };
    const path = { PATH: `${shimDir}:${process.env.PATH}` };
    const node = labNode(systemd, 'pg1');

    const { result: stopped } = await runOk(stopCleanly(systemd, node, null), { override: path });
    expect(stopped).toMatchObject({ alreadyStopped: false, checkpointLsn: controldata(lab, 'pg1')['Latest checkpoint location'], restartsAs: 'standby', primaryHost: null });
    expect((await runOk(inspectVm(systemd, node), { override: path })).result).toMatchObject({ running: false, serviceActive: false, clusterState: 'shut down', standbySignal: true });
    expect((await runOk(startServer(systemd, node, { startAs: 'primary' }), { override: path })).result).toMatchObject({ alreadyRunning: false, role: 'primary', standbySignalRemoved: true });
    expect((await runOk(inspectVm(systemd, node), { override: path })).result).toMatchObject({ running: true, serviceActive: true });
    expect(readFileSync(join(shimDir, 'calls.log'), 'utf8').split('\n').filter(Boolean)).toEqual([
      'systemctl is-system-running',
      'systemctl stop postgresql@15-pg1',
      'systemctl is-active --quiet postgresql@15-pg1',
      'systemctl start postgresql@15-pg1',
      'systemctl is-active --quiet postgresql@15-pg1',
    ]);

    // While the VM shuts down, systemd's stop job waits for our shutdown hook: stop with pg_ctl, not through the unit.
    writeFileSync(join(shimDir, 'system-state'), 'stopping\n');
    writeFileSync(join(shimDir, 'calls.log'), '');
    const { result: duringShutdown } = await runOk(stopCleanly(systemd, node, null), { override: path });
    expect(duringShutdown).toMatchObject({ alreadyStopped: false, clusterState: 'shut down' });
    expect(readFileSync(join(shimDir, 'calls.log'), 'utf8')).not.toMatch(/systemctl stop/);
    expect((await runOk(startServer(systemd, node, { startAs: 'primary' }), { override: path })).result).toMatchObject({ role: 'primary' });
    await lab.waitUntilHealthy();
  });

  it('leaves the lab healthy', async () => {
    await waitFor('a healthy lab', () => lab.waitUntilHealthy(), { timeoutMs: 60_000 });
  });
});
