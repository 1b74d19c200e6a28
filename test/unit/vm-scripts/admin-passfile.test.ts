import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmScriptsDir } from '../../../src/vm-scripts/catalogue';

/** A PID no process has now. */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}

describe("the admin password's temporary file (rejoin)", () => {
  const uid = process.geteuid!();
  let dir: string;
  const env = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: dir, PGFO_ADMIN_USER: 'pgfo_admin', PGFO_ADMIN_PASSWORD: 's3cret', PGFO_OS_USER: 'postgres' });
  const script = (after: string) => `source ${join(vmScriptsDir(), 'lib.sh')}\npgfo_begin passfile-test\nwrite_admin_passfile\necho "$pgfo_admin_passfile" >"$TMPDIR/made"\n${after}`;
  const passfiles = () => readdirSync(dir).filter((f) => f.startsWith('pgfo-admin.')).sort();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgfo-passfile-'));
    chmodSync(dir, 0o1777);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is removed when the script ends', () => {
    const run = spawnSync('bash', ['-c', script('report_ok')], { env: env(), encoding: 'utf8' });
    expect(run.stdout).toContain('PGFO_RESULT {"ok":true');
    const made = readFileSync(join(dir, 'made'), 'utf8').trim();
    expect(made).toMatch(new RegExp(`/pgfo-admin\\.${uid}\\.\\d+\\.\\w+$`));
    expect(existsSync(made)).toBe(false);
  });

  it('left by a run killed with SIGKILL, it is removed by the next run once that process is gone; a live run keeps its own', async () => {
    const killed = spawn('bash', ['-c', script('sleep 60')], { env: env(), stdio: 'ignore' });
    while (!existsSync(join(dir, 'made'))) await new Promise((resolve) => setTimeout(resolve, 20));
    const left = readFileSync(join(dir, 'made'), 'utf8').trim();
    expect(readFileSync(left, 'utf8')).toBe('*:*:*:pgfo_admin:s3cret\n');
    killed.kill('SIGKILL');
    await new Promise((resolve) => killed.once('exit', resolve));
    expect(existsSync(left)).toBe(true); // no EXIT trap runs on SIGKILL
    const live = join(dir, `pgfo-admin.${uid}.${process.pid}.keep`);
    writeFileSync(live, 'another run, still going\n');
    writeFileSync(join(dir, `pgfo-admin.${uid}.${deadPid()}.old`), 'older\n');

    const next = spawnSync('bash', ['-c', script('report_ok')], { env: env(), encoding: 'utf8' });

    expect(next.stderr).toContain(`removed ${left}, left by a run that was killed`);
    expect(passfiles()).toEqual([`pgfo-admin.${uid}.${process.pid}.keep`]);
  });

  // Root's live run (Run Command) and the OS user's (the node agent's steps) share /tmp; to the OS
  // user, kill -0 of root's process answers "not permitted", which is no sign it is gone.
  (uid === 0 ? it : it.skip)("a run as another user leaves a live run's file alone: the OS user's run does not take root's for a killed one", () => {
    const rootsLive = join(dir, `pgfo-admin.0.${process.pid}.live`);
    writeFileSync(rootsLive, '*:*:*:pgfo_admin:s3cret\n');
    spawnSync('chown', ['postgres', rootsLive]);
    const asOsUser = spawnSync('runuser', ['-u', 'postgres', '--', 'bash', '-c', script('report_ok')], { env: env(), encoding: 'utf8' });
    expect(asOsUser.stdout).toContain('PGFO_RESULT {"ok":true');
    expect(asOsUser.stderr).not.toContain('left by a run that was killed');
    expect(existsSync(rootsLive)).toBe(true);
  });
});
