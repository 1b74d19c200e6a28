import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labOsOwner, makeOwnedDir, OsOwner, writeOwnedFile } from '../../../harness/lab/os-owner';
import { vmScriptsDir } from '../../../src/vm-scripts/catalogue';
import { parseScriptResult } from '../../../src/domain/script-result';

const asRoot = process.getuid?.() === 0;
const VICTIM_TEXT = "root's own text, never to be read or changed through a link\n";

/**
 * The VM scripts run as root, in directories the PostgreSQL OS user owns, and any database
 * superuser has a shell as that user (COPY ... TO PROGRAM). A symlink that user plants where a
 * script writes or reads must give it nothing root could do: lib.sh's file work runs as the OS
 * user. Meaningful only as root (Run Command's user; CI runs as root).
 */
(asRoot ? describe : describe.skip)('VM scripts: root writes and reads through no symlink the OS user planted', () => {
  let base: string;
  let owner: OsOwner;
  let data: string;
  let victim: string;
  let rootDir: string;

  const run = (commands: string, env: Record<string, string> = {}) => {
    const script = `source ${join(vmScriptsDir(), 'lib.sh')}\npgfo_begin symlink-test\n${commands}\nreport_ok`;
    const child = spawnSync('bash', ['-c', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', TMPDIR: join(base, 'tmp'), PGFO_OS_USER: owner.user, ...env },
    });
    const parsed = parseScriptResult(child.stdout);
    if (parsed.kind !== 'result') throw new Error(`no result line\nstdout:\n${child.stdout}\nstderr:\n${child.stderr}`);
    return parsed.result;
  };
  const plant = (link: string, target: string) => symlinkSync(target, link);
  /** Every regular file under the OS user's directory that holds the victim's text. */
  const disclosed = () => readdirSync(join(base, 'pg'), { recursive: true, encoding: 'utf8' }).filter((f) => {
    const path = join(base, 'pg', f);
    return lstatSync(path).isFile() && readFileSync(path, 'utf8').includes(VICTIM_TEXT.trim());
  });

  beforeEach(() => {
    owner = labOsOwner();
    base = mkdtempSync(join(tmpdir(), 'pgfo-symlinks-'));
    chmodSync(base, 0o755);
    mkdirSync(join(base, 'tmp'), { mode: 0o1777 });
    chmodSync(join(base, 'tmp'), 0o1777);
    victim = join(base, 'victim');
    writeFileSync(victim, VICTIM_TEXT, { mode: 0o600 });
    rootDir = join(base, 'root-only');
    mkdirSync(rootDir, { mode: 0o755 });
    makeOwnedDir(join(base, 'pg'), owner, 0o700);
    data = join(base, 'pg', 'data');
    makeOwnedDir(data, owner, 0o700);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('install_file replaces a planted link, never writes through it', () => {
    plant(join(data, 'standby.signal'), victim);
    expect(run(`install_file "${data}/standby.signal" </dev/null`)).toMatchObject({ ok: true });
    expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    const signal = lstatSync(join(data, 'standby.signal'));
    expect(signal.isFile()).toBe(true);
    expect(signal.uid).toBe(owner.uid);
  });

  it("install_file works with the OS user's rights where that user can write: a directory it swapped for a link to root's is not written through", () => {
    plant(join(base, 'pg', 'conf'), rootDir);
    const result = run(`echo hello | install_file "${base}/pg/conf/file"`);
    expect(result).toMatchObject({ ok: false });
    expect(String(result.error)).toMatch(/Permission denied/);
    expect(readdirSync(rootDir)).toEqual([]);
  });

  it('in a directory only root can write (nothing can be planted there), install_file works as root and leaves the file to the OS user', () => {
    expect(run(`echo hello | install_file "${rootDir}/file"`)).toMatchObject({ ok: true });
    const file = statSync(join(rootDir, 'file'));
    expect([file.uid, file.mode & 0o777]).toEqual([owner.uid, 0o600]);
    expect(readFileSync(join(rootDir, 'file'), 'utf8')).toBe('hello\n');
    expect(readdirSync(rootDir)).toEqual(['file']); // no temporary file left
  });

  it('read_file refuses a FIFO planted in place of a file instead of waiting on it', () => {
    expect(spawnSync('runuser', ['-u', owner.user, '--', 'mkfifo', join(data, 'PG_VERSION')]).status).toBe(0);
    const result = run(`read_file "${data}/PG_VERSION"`);
    expect(result).toMatchObject({ ok: false });
    expect(String(result.error)).toMatch(/PG_VERSION is not a regular file/);
  });

  it("configure_standby does not read a root-only file through a planted postgresql.auto.conf into the OS user's file", () => {
    plant(join(data, 'postgresql.auto.conf'), victim);
    const result = run(`configure_standby "${data}" keep-conninfo`);
    expect(result).toMatchObject({ ok: false });
    expect(String(result.error)).toMatch(/Permission denied/);
    expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect(disclosed()).toEqual([]);
  });

  it('the replication password file: a planted link to a root-only file is neither read nor written', () => {
    const passfile = join(base, 'pg', '.pgpass');
    plant(passfile, victim);
    const result = run('write_replication_passfile', { PGFO_PASSFILE: passfile, PGFO_REPLICATION_USER: 'replicator', PGFO_REPLICATION_PASSWORD: 'r3pl' });
    expect(result).toMatchObject({ ok: false });
    expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);
    expect(disclosed()).toEqual([]);
  });

  it('the replication password file keeps the lines of other users (read as the OS user)', () => {
    const passfile = join(base, 'pg', '.pgpass');
    writeOwnedFile(passfile, '*:*:*:someone:else\n*:*:*:replicator:old\n', owner);
    expect(run('write_replication_passfile', { PGFO_PASSFILE: passfile, PGFO_REPLICATION_USER: 'replicator', PGFO_REPLICATION_PASSWORD: 'n3w' })).toMatchObject({ ok: true });
    expect(readFileSync(passfile, 'utf8')).toBe('*:*:*:someone:else\n*:*:*:replicator:n3w\n');
    expect(statSync(passfile).uid).toBe(owner.uid);
  });

  it('the rejoin lock opens the directory holding the data directory read-only: nothing is created there, and a link planted in its place is refused', () => {
    const before = readdirSync(join(base, 'pg'));
    expect(run('hold_data_dir_lock', { PGFO_DATA_DIR: data })).toMatchObject({ ok: true });
    expect(readdirSync(join(base, 'pg'))).toEqual(before);

    plant(join(base, 'pg', 'linked'), rootDir);
    const refused = run('hold_data_dir_lock', { PGFO_DATA_DIR: join(base, 'pg', 'linked', 'data') });
    expect(refused).toMatchObject({ ok: false });
    expect(String(refused.error)).toMatch(/must be a directory, not a link/);
    expect(readdirSync(rootDir)).toEqual([]);

    // A FIFO in its place fails at once: opening one for reading would wait for a writer forever.
    expect(spawnSync('runuser', ['-u', owner.user, '--', 'mkfifo', join(base, 'pg', 'fifo')]).status).toBe(0);
    const fifo = run('hold_data_dir_lock', { PGFO_DATA_DIR: join(base, 'pg', 'fifo', 'data') });
    expect(fifo).toMatchObject({ ok: false });
    expect(String(fifo.error)).toMatch(/cannot open .*fifo .* to lock it/);
  });

  it('where the directory cannot hold an exclusive flock (NFS: EBADF on a read-only descriptor), the rejoin lock is root\'s own, in root\'s directory', () => {
    // flock(1) as on an NFS mount: locking a descriptor fails with EBADF, locking a file of one's own works.
    const shims = join(base, 'shims');
    mkdirSync(shims);
    writeFileSync(join(shims, 'flock'), '#!/bin/sh\nif [ "$1" = -n ] && [ "$2" = -E ]; then echo "flock: $4: Bad file descriptor" >&2; exit 1; fi\nexec /usr/bin/flock "$@"\n', { mode: 0o755 });
    const name = `rejoin${data.replaceAll('/', '_')}.lock`;
    try {
      expect(run('hold_data_dir_lock', { PGFO_DATA_DIR: data, PATH: `${shims}:${process.env.PATH ?? '/usr/bin:/bin'}` })).toMatchObject({ ok: true });
      const lock = statSync(join('/run/pg-failover', name));
      expect([lock.uid, statSync('/run/pg-failover').mode & 0o777]).toEqual([0, 0o700]);
    } finally {
      rmSync(join('/run/pg-failover', name), { force: true });
    }
  });
});
