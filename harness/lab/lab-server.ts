import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { run, CommandFailedError } from '../util/exec';
import { waitFor } from '../util/wait';
import { LabNodeLayout } from './layout';
import { OsOwner, makeOwnedDir, writeOwnedFile } from './os-owner';

export interface LabCredentials {
  admin: { user: string; password: string };
  replication: { user: string; password: string };
  app: { user: string; password: string; database: string };
}

/** Settings every lab node shares; per-node ones live in node.conf so a cloned standby can replace them. */
const COMMON_SETTINGS = `
# --- pg-failover lab ---
include_if_exists = 'node.conf'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
wal_keep_size = '256MB'
wal_receiver_status_interval = 1s
wal_sender_timeout = 10s
# The sample's and the README's: a standby whose primary went silent (a VM that is off) stops
# streaming after 5 s, not PostgreSQL's default 60 s.
wal_receiver_timeout = 5s
shared_buffers = 32MB
max_connections = 60
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
`;

/** TCP only over TLS (as the sample deployment's pg_hba): a plaintext client finds no entry and is refused. */
function hbaRules(replicationUser: string): string {
  return [
    'local all all peer map=lab',
    `hostssl replication ${replicationUser} 127.0.0.0/8 scram-sha-256`,
    'hostssl all all 127.0.0.0/8 scram-sha-256',
    '',
  ].join('\n');
}

/** Operating-system users allowed to act as the postgres superuser over the local socket (as on a Debian VM). */
function identMap(owner: OsOwner): string {
  return [...new Set(['postgres', owner.user])].map((user) => `lab ${user} postgres`).join('\n') + '\n';
}

function nodeSettings(node: LabNodeLayout): string {
  return [
    `listen_addresses = '${node.host}'`,
    `port = ${node.port}`,
    `unix_socket_directories = '${node.socketDir}'`,
    `cluster_name = '${node.name}'`,
    'ssl = on',
    `ssl_cert_file = '${node.certFile}'`,
    `ssl_key_file = '${node.keyFile}'`,
    '',
  ].join('\n');
}

/** Controls one lab PostgreSQL server through the real server binaries. */
export class LabServer {
  constructor(
    readonly node: LabNodeLayout,
    private readonly binDir: string,
    private readonly owner: OsOwner,
  ) {}

  private tool(name: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
    return run(join(this.binDir, name), args, { asUser: this.owner.user, env, timeoutMs: 180_000 });
  }

  private prepareDirs(): void {
    makeOwnedDir(this.node.dir, this.owner, 0o755);
    makeOwnedDir(this.node.socketDir, this.owner, 0o755);
  }

  writePassFile(credentials: LabCredentials): void {
    writeOwnedFile(this.node.passFile, `*:*:*:${credentials.replication.user}:${credentials.replication.password}\n`, this.owner);
  }

  async initPrimary(credentials: LabCredentials): Promise<void> {
    this.prepareDirs();
    const pwFile = join(this.node.dir, 'initdb-password');
    writeOwnedFile(pwFile, `${credentials.admin.password}\n`, this.owner);
    try {
      await this.tool('initdb', ['-D', this.node.dataDir, '-U', credentials.admin.user, `--pwfile=${pwFile}`, '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C']);
    } finally {
      rmSync(pwFile, { force: true });
    }
    appendFileSync(join(this.node.dataDir, 'postgresql.conf'), COMMON_SETTINGS);
    writeOwnedFile(join(this.node.dataDir, 'pg_hba.conf'), hbaRules(credentials.replication.user), this.owner);
    writeOwnedFile(join(this.node.dataDir, 'pg_ident.conf'), identMap(this.owner), this.owner);
    writeOwnedFile(join(this.node.dataDir, 'node.conf'), nodeSettings(this.node), this.owner);
    this.writePassFile(credentials);
  }

  /** Synchronous replication: synchronous_standby_names in postgresql.conf (kept through rejoins), applied by a reload. */
  async setSynchronousStandbyNames(names: string): Promise<void> {
    appendFileSync(join(this.node.dataDir, 'postgresql.conf'), `synchronous_standby_names = '${names.replace(/'/g, "''")}'\n`);
    if (await this.isRunning()) await this.tool('pg_ctl', ['-D', this.node.dataDir, 'reload']);
  }

  /** A standby cloned from `upstream` with pg_basebackup, set to stream from it. */
  async cloneStandby(upstream: LabNodeLayout, credentials: LabCredentials): Promise<void> {
    this.prepareDirs();
    this.writePassFile(credentials);
    await this.tool(
      'pg_basebackup',
      ['-h', upstream.host, '-p', String(upstream.port), '-U', credentials.replication.user, '-D', this.node.dataDir, '-X', 'stream', '-c', 'fast', '--no-password'],
      { PGPASSFILE: this.node.passFile, PGSSLMODE: 'require' },
    );
    writeOwnedFile(join(this.node.dataDir, 'node.conf'), nodeSettings(this.node), this.owner);
    // sslmode=require, as the VM scripts' primary_conninfo (lib.sh standby_conninfo).
    const conninfo = `host=${upstream.host} port=${upstream.port} user=${credentials.replication.user} passfile=${this.node.passFile} application_name=${this.node.name} connect_timeout=2 sslmode=require`;
    appendFileSync(join(this.node.dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\n`);
    writeOwnedFile(join(this.node.dataDir, 'standby.signal'), '', this.owner);
  }

  hasData(): boolean {
    return existsSync(join(this.node.dataDir, 'PG_VERSION'));
  }

  async isRunning(): Promise<boolean> {
    if (!this.hasData()) return false;
    try {
      await this.tool('pg_ctl', ['-D', this.node.dataDir, 'status']);
      return true;
    } catch (error) {
      if (error instanceof CommandFailedError && error.exitCode === 3) return false;
      throw error;
    }
  }

  async start(): Promise<void> {
    this.forgetDeadPostmaster();
    try {
      await this.tool('pg_ctl', ['-D', this.node.dataDir, '-l', this.node.logFile, '-w', '-t', '120', 'start']);
    } catch (error) {
      const log = existsSync(this.node.logFile) ? readFileSync(this.node.logFile, 'utf8').trim().split('\n').slice(-4).join('\n') : '(no log)';
      throw new Error(`${this.node.name} did not start: ${(error as Error).message}\nlast lines of ${this.node.logFile}:\n${log}`);
    }
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!(await this.isRunning())) return;
    await this.tool('pg_ctl', ['-D', this.node.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  /** The postmaster and its children (backends, walreceiver, …); none when the server does not run. */
  processes(): number[] {
    const pid = this.postmasterPid();
    return pid ? [pid, ...childProcesses(pid)] : [];
  }

  /** What a VM losing power does to PostgreSQL: the postmaster and every backend die at once, without a shutdown. */
  async kill(): Promise<void> {
    const targets = this.processes();
    if (targets.length === 0) return;
    // Backends too: a frozen backend left alive could finish a statement after the "power-off".
    for (const target of targets) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await waitFor(`${this.node.name} to stop after SIGKILL`, async () => !(await this.isRunning()), { timeoutMs: 30_000, intervalMs: 50 });
  }

  /**
   * A postmaster killed here may linger as a zombie when nothing reaps orphans (PID 1 of some
   * containers does not): PostgreSQL then takes its pid for a live server and refuses to start.
   * A zombie holds no memory or sockets, so its lock file is stale.
   */
  private forgetDeadPostmaster(): void {
    const pid = this.postmasterPid();
    if (!pid || !isZombie(pid)) return;
    rmSync(join(this.node.dataDir, 'postmaster.pid'), { force: true });
    rmSync(join(this.node.socketDir, `.s.PGSQL.${this.node.port}.lock`), { force: true });
  }

  /** The postmaster's pid, when a postmaster.pid file exists. */
  postmasterPid(): number | undefined {
    const pidFile = join(this.node.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }
}

/** The direct children of a process (a postmaster's backends and auxiliary processes). */
function childProcesses(parent: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(parent)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
