import { ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgEndpoint, withClient } from '../../../src/adapters/postgres/connect';
import { isRoot } from '../../util/exec';
import { waitFor } from '../../util/wait';
import { labOsOwner, makeOwnedDir, writeOwnedFile } from '../../lab/os-owner';
import { silenceNode, unsilenceNode, withDescendants } from '../../lab/network-silence';
import { PeerTools } from './install';
import { haproxyConfig, PATRONI_DCS, PatroniFront, PatroniCredentials, PatroniDcs, PatroniLayout, patroniLayout, patroniNodeConfig, PatroniNodeLayout, patronictlConfig } from './config';

export interface PatroniMember {
  name: string;
  role: 'leader' | 'replica' | 'sync_standby' | 'standby_leader';
  state: string;
  host?: string;
  timeline?: number;
  lag?: number | 'unknown';
}

export interface PatroniClusterView {
  members: PatroniMember[];
}

const secret = () => randomBytes(18).toString('base64url');

/** The environment Patroni and patronictl run with: no PG* variables (an exported PGPASSWORD overrides Patroni's pgpass). */
function peerEnv(home?: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
  return home ? { ...env, HOME: home } : env;
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function execCapture(program: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(program, args, { timeout: timeoutMs, env, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}${error?.killed ? '\n(killed: timeout)' : ''}` });
    });
  });
}

const lastLines = (file: string, n = 6) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n') : '(no log)');

/**
 * A 3-node Patroni cluster (built-in Raft) with HAProxy in front, all on loopback, in a temporary
 * directory it removes on `down()`. Patroni runs as the postgres OS user when we are root.
 */
export class PatroniCluster {
  readonly layout: PatroniLayout;
  readonly credentials: PatroniCredentials;
  private readonly patroni = new Map<string, ChildProcess>();
  private haproxy: ChildProcess | undefined;
  private readonly owner = labOsOwner();

  constructor(
    private readonly tools: PeerTools,
    addressBlock: string,
    binDir: string,
    readonly dcs: PatroniDcs = PATRONI_DCS,
    private readonly front: PatroniFront = 'haproxy',
  ) {
    const rootDir = mkdtempSync(join(tmpdir(), 'pgfo-bench-patroni-'));
    // The postgres OS user must traverse it.
    chmodSync(rootDir, 0o755);
    this.layout = patroniLayout(rootDir, addressBlock, binDir);
    this.credentials = {
      superuser: { username: 'postgres', password: secret() },
      replication: { username: 'replicator', password: secret() },
      app: { user: 'app', password: secret(), database: 'appdb' },
    };
  }

  node(name: string): PatroniNodeLayout {
    const node = this.layout.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no Patroni member "${name}"`);
    return node;
  }

  /** The application's view: HAProxy's frontend, like our ILB write frontend. */
  appEndpoint(): PgEndpoint {
    const { user, password, database } = this.credentials.app;
    return { host: this.layout.haproxy.host, port: this.layout.haproxy.port, user, password, database };
  }

  adminEndpoint(name: string): PgEndpoint {
    const node = this.node(name);
    return { host: node.host, port: node.pgPort, user: this.credentials.superuser.username, password: this.credentials.superuser.password, database: 'postgres' };
  }

  /** Writes the configuration, starts HAProxy and the three Patroni nodes together (Raft needs 2 of 3), waits for a healthy cluster. */
  async up(timeoutMs = 240_000): Promise<void> {
    for (const node of this.layout.nodes) {
      makeOwnedDir(node.dir, this.owner, 0o700);
      makeOwnedDir(node.raftDir, this.owner, 0o700);
      makeOwnedDir(node.socketDir, this.owner, 0o755);
      writeOwnedFile(node.configFile, patroniNodeConfig(this.layout, node, this.credentials, this.dcs), this.owner);
    }
    writeOwnedFile(this.layout.ctlConfigFile, patronictlConfig(this.layout), this.owner);
    writeOwnedFile(this.layout.haproxy.configFile, haproxyConfig(this.layout, this.front), this.owner, 0o644);
    await this.startHaproxy();
    for (const node of this.layout.nodes) this.startNode(node.name);

    const leader = await waitFor('Patroni to bootstrap a leader and two streaming replicas', () => this.convergedLeader(undefined), { timeoutMs, intervalMs: 250 }).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.layout.nodes.map((n) => `--- ${n.logFile}\n${lastLines(n.logFile)}`).join('\n')}`);
    });
    await withClient(this.adminEndpoint(leader), async (client) => {
      const { user, password, database } = this.credentials.app;
      await client.query(`CREATE ROLE ${client.escapeIdentifier(user)} WITH LOGIN PASSWORD ${client.escapeLiteral(password)}`);
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)} OWNER ${client.escapeIdentifier(user)}`);
    });
    await this.writableThroughFront('a writable primary through HAProxy');
  }

  private async writableThroughFront(what: string): Promise<void> {
    await waitFor(
      what,
      () => withClient(this.appEndpoint(), async (client) => (await client.query<{ writable: boolean }>('SELECT NOT pg_is_in_recovery() AS writable')).rows[0].writable),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  /**
   * Restarts HAProxy at the wall-clock moment `atMs` (its checks then keep the phase that start
   * gives them) and waits until a write goes through it. Only between runs: a restart ends the
   * sessions it carries.
   */
  async restartFrontAt(atMs: number): Promise<void> {
    await this.stopHaproxy();
    await sleep(Math.max(0, atMs - Date.now()));
    await this.startHaproxy();
    // HAProxy takes a server as up until its first check says otherwise (Azure's probe takes a
    // backend as down until one passes): no run starts before every server was checked.
    await waitFor('HAProxy to have checked every server once since its restart', async () => (await haproxyServers(this.layout.haproxy.statsSocket)).every((s) => s.checkStatus.replace(/^\* /, '') !== 'INI'), { timeoutMs: 30_000, intervalMs: 100 });
    await this.writableThroughFront('a writable primary through HAProxy after its restart');
  }

  private async stopHaproxy(): Promise<void> {
    if (!this.haproxy) return;
    signalGroup(this.haproxy.pid, 'SIGTERM');
    const until = Date.now() + 5000;
    while (alive(this.haproxy.pid) && Date.now() < until) await sleep(50);
    signalGroup(this.haproxy.pid, 'SIGKILL');
    this.haproxy = undefined;
  }

  private async startHaproxy(): Promise<void> {
    const { configFile, logFile, host, port } = this.layout.haproxy;
    const check = await execCapture(this.tools.haproxy, ['-c', '-f', configFile], 15_000, process.env);
    if (check.code !== 0) throw new Error(`HAProxy refused its configuration: ${check.output.trim()}`);
    const fd = openSync(logFile, 'a');
    this.haproxy = spawn(this.tools.haproxy, ['-f', configFile, '-db'], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.haproxy.unref();
    await waitFor(`HAProxy to listen on ${host}:${port}`, () => this.haproxy?.exitCode === null && listening(host, port), { timeoutMs: 15_000, intervalMs: 100 }).catch((error: Error) => {
      throw new Error(`${error.message}; ${logFile}:\n${lastLines(logFile)}`);
    });
  }

  /** Starts (or restarts) one node's Patroni as the postgres OS user, in its own process group. */
  startNode(name: string): void {
    const node = this.node(name);
    unsilenceNode(node.host);
    if (alive(this.patroni.get(name)?.pid)) throw new Error(`Patroni ${name} is already running`);
    const fd = openSync(node.logFile, 'a');
    const [program, args] = isRoot() ? ['runuser', ['-u', this.owner.user, '--', this.tools.patroni, node.configFile]] : [this.tools.patroni, [node.configFile]];
    const child = spawn(program, args, { detached: true, stdio: ['ignore', fd, fd], env: peerEnv(node.dir), cwd: node.dir });
    closeSync(fd);
    child.unref();
    this.patroni.set(name, child);
  }

  /** The postmaster of a node, if running (Patroni starts it in its own session, so it outlives a killed Patroni). */
  postmasterPid(name: string): number | undefined {
    const node = this.node(name);
    const pidFile = join(node.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
    // Only ever a postmaster of this node, never a process that reused the number.
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(node.dataDir)) return undefined;
    } catch {
      return undefined;
    }
    return pid;
  }

  /**
   * A VM that vanishes (its host failed): silent first (docs/azure-platform.md §20; its Raft member,
   * REST API and PostgreSQL say nothing more to anyone), then its processes die as in killNode.
   */
  vanishNode(name: string): void {
    const postmaster = this.postmasterPid(name);
    silenceNode(this.node(name).host, withDescendants([...(postmaster ? [postmaster] : []), ...(this.patroni.get(name)?.pid ? [this.patroni.get(name)!.pid!] : [])]));
    this.killNode(name);
  }

  /** What a dying VM does: the node's Patroni and its postmaster get SIGKILL at the same moment. */
  killNode(name: string): void {
    const postmaster = this.postmasterPid(name);
    signalGroup(this.patroni.get(name)?.pid, 'SIGKILL');
    if (postmaster) process.kill(postmaster, 'SIGKILL');
  }

  async view(): Promise<PatroniClusterView> {
    let lastError: unknown;
    for (const node of this.layout.nodes) {
      if (!alive(this.patroni.get(node.name)?.pid)) continue;
      try {
        const response = await fetch(`http://${node.host}:${node.restPort}/cluster`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) return (await response.json()) as PatroniClusterView;
        lastError = new Error(`GET /cluster on ${node.name}: ${response.status}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('no Patroni member answers');
  }

  async leader(): Promise<string | undefined> {
    return (await this.view()).members.find((m) => m.role === 'leader')?.name;
  }

  /** The members that stream from `leader`, by pg_stat_replication on the leader itself. */
  async streamingFrom(leader: string): Promise<string[]> {
    return withClient(
      this.adminEndpoint(leader),
      async (client) => (await client.query<{ name: string }>("SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'")).rows.map((r) => r.name),
      { connectTimeoutMs: 2000, statementTimeoutMs: 2000 },
    );
  }

  /** The leader's name once every member runs, the leader is `expected` (if given) and the others stream from it; else false. */
  async convergedLeader(expected: string | undefined): Promise<string | false> {
    const { members } = await this.view();
    const leader = members.find((m) => m.role === 'leader');
    if (!leader || (expected && leader.name !== expected)) return false;
    if (members.length !== this.layout.nodes.length || members.some((m) => m.state !== 'running')) return false;
    const streaming = await this.streamingFrom(leader.name);
    return members.every((m) => m.name === leader.name || streaming.includes(m.name)) ? leader.name : false;
  }

  async waitConverged(expected: string | undefined, timeoutMs: number, what: string): Promise<string> {
    return waitFor(what, () => this.convergedLeader(expected), { timeoutMs, intervalMs: 100 });
  }

  /** `patronictl -c CONFIG switchover --leader A --candidate B --force`; resolves with its output once it returns. */
  async switchover(leader: string, candidate: string, timeoutMs = 120_000): Promise<string> {
    const { code, output } = await execCapture(this.tools.patronictl, ['-c', this.layout.ctlConfigFile, 'switchover', '--leader', leader, '--candidate', candidate, '--force'], timeoutMs, peerEnv());
    if (code !== 0 || !/Successfully switched over/.test(output)) throw new Error(`patronictl switchover ${leader} → ${candidate} did not succeed (exit ${code}): ${output.trim().split('\n').slice(0, 3).join(' | ')}`);
    return output;
  }

  /** Byte offset of a node's Patroni log, to look at what it logged from now on. */
  logOffset(name: string): number {
    const file = this.node(name).logFile;
    return existsSync(file) ? statSync(file).size : 0;
  }

  logSince(name: string, offset: number): string {
    const file = this.node(name).logFile;
    return existsSync(file) ? readFileSync(file).subarray(offset).toString('utf8') : '';
  }

  /** Stops every process this cluster started (Patroni stops its PostgreSQL on SIGTERM; leftovers get SIGKILL) and removes its directory. */
  async down(): Promise<void> {
    for (const child of this.patroni.values()) signalGroup(child.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while ([...this.patroni.values()].some((c) => alive(c.pid)) && Date.now() < deadline) await sleep(100);
    for (const child of this.patroni.values()) signalGroup(child.pid, 'SIGKILL');
    for (const node of this.layout.nodes) {
      const pid = this.postmasterPid(node.name);
      if (pid) process.kill(pid, 'SIGKILL');
      unsilenceNode(node.host);
    }
    await this.stopHaproxy();
    // A killed postmaster's children notice and exit on their own; give them a moment before removing their files.
    const until = Date.now() + 10_000;
    while (this.layout.nodes.some((n) => this.postmasterPid(n.name)) && Date.now() < until) await sleep(100);
    rmSync(this.layout.rootDir, { recursive: true, force: true });
  }
}

/** Each server's state as HAProxy's runtime API shows it (`show stat`): its status and last check ('INI': none yet; '* ' in front while a check runs). */
function haproxyServers(socketPath: string): Promise<Array<{ name: string; status: string; checkStatus: string }>> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(socketPath, () => socket.write('show stat\n'));
    let text = '';
    socket.setTimeout(2000, () => socket.destroy(new Error(`no answer on ${socketPath}`)));
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('end', () => {
      const [header = '', ...rows] = text.trim().split('\n');
      const columns = header.replace(/^# /, '').split(',');
      const field = (row: string[], name: string) => row[columns.indexOf(name)] ?? '';
      const servers = rows.map((line) => line.split(',')).filter((row) => !['FRONTEND', 'BACKEND'].includes(field(row, 'svname')));
      resolve(servers.map((row) => ({ name: field(row, 'svname'), status: field(row, 'status'), checkStatus: field(row, 'check_status') })));
    });
  });
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
