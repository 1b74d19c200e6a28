import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { InvalidInputError } from '../../src/domain/errors';
import { lagBytes, walPosition } from '../../src/domain/cluster-view';
import { isStreaming, NodeInspection } from '../../src/domain/node-state';
import { connect, PgEndpoint } from '../../src/adapters/postgres/connect';
import { inspectNode } from '../../src/adapters/postgres/inspect';
import { run, isRoot } from '../util/exec';
import { waitFor } from '../util/wait';
import { nodeArgsFor, siblingModule } from '../util/node-script';
import { LabOptions, LabLayout, labLayout, defaultLabOptions, LabNodeLayout } from './layout';
import { LabCredentials, LabServer } from './lab-server';
import { labOsOwner, makeOwnedDir, writeOwnedFile } from './os-owner';
import { createCertificateAuthority, issueServerCertificate } from '../util/certificates';
import { findPgBinDir } from './pg-binaries';
import { IlbControlClient } from './ilb-client';
import { killNodeAgent, nodeAgentProcesses, stopNodeAgents } from './node-agents';
import { silenceNode, unsilenceNode, withDescendants } from './network-silence';
import { IlbDaemonSpec } from './ilb-daemon';
import { PoolMembership, ProbeStates } from './tcp-load-balancer';

/** What `lab up` records, so later commands (and other processes) find the same lab. */
export interface LabManifest {
  /** Made at creation: tells this lab from a later one built in the same place. */
  id?: string;
  options: LabOptions;
  binDir: string;
  credentials: LabCredentials;
}

export interface LabNodeStatus {
  name: string;
  host: string;
  port: number;
  role: 'primary' | 'standby' | 'down';
  timeline: number | null;
  lsn: string | null;
  lagBytes: number | null;
  streaming: boolean;
}

export interface LabStatus {
  nodes: LabNodeStatus[];
  ilb: {
    write: { host: string; port: number };
    read: { host: string; port: number };
    writePool: string[];
    readPool: string[];
    /** In probe mode only: each rule's backends, up or down by their health probe. */
    probes?: ProbeStates;
  };
  connection: { user: string; password: string; database: string };
}

const secret = () => randomBytes(18).toString('base64url');

function log(event: string, fields: Record<string, unknown> = {}): void {
  if (process.env.PG_FAILOVER_QUIET) return;
  process.stderr.write(`${JSON.stringify({ component: 'lab', event, ...fields })}\n`);
}

export class Lab {
  readonly layout: LabLayout;

  private constructor(readonly manifest: LabManifest) {
    this.layout = labLayout(manifest.options);
  }

  /** The lab recorded in `stateDir`, if one was brought up there. */
  static open(options: Partial<LabOptions> = {}): Lab | undefined {
    const layout = labLayout({ ...defaultLabOptions(), ...options });
    if (!existsSync(layout.manifestFile)) return undefined;
    return new Lab(JSON.parse(readFileSync(layout.manifestFile, 'utf8')) as LabManifest);
  }

  /**
   * Brings a healthy lab up. On an existing lab it only starts what is stopped (idempotent) —
   * except the nodes in `leaveStopped` (VMs Azure holds powered off) — and waits until every
   * server it started answers, whatever state the cluster is in: a switchover interrupted half-way
   * is the app's to finish, not the lab's.
   */
  static async up(options: Partial<LabOptions> = {}, { leaveStopped = [] }: { leaveStopped?: readonly string[] } = {}): Promise<Lab> {
    const existing = Lab.open(options);
    if (existing) {
      await existing.ensureRunning(leaveStopped);
      return existing;
    }
    const full = { ...defaultLabOptions(), ...options };
    await Lab.removeLeftovers(full);
    const lab = new Lab({
      id: randomBytes(8).toString('hex'),
      options: full,
      binDir: findPgBinDir(),
      credentials: {
        admin: { user: 'postgres', password: secret() },
        replication: { user: 'replicator', password: secret() },
        app: { user: 'app', password: secret(), database: 'appdb' },
      },
    });
    await lab.create();
    return lab;
  }

  /** Stops everything a lab started and removes its state directory. */
  static async down(options: Partial<LabOptions> = {}): Promise<boolean> {
    const full = { ...defaultLabOptions(), ...options };
    if (!existsSync(full.stateDir)) return false;
    await Lab.removeLeftovers(full);
    return true;
  }

  private static async removeLeftovers(options: LabOptions): Promise<void> {
    const recorded = Lab.open(options)?.manifest;
    const layout = labLayout(recorded?.options ?? options);
    // A VM the last lab on these addresses left powered off (silent) would still be.
    for (const node of layout.nodes) unsilenceNode(node.host);
    if (!existsSync(layout.stateDir)) return;
    await stopDaemon(layout.ilbPidFile);
    await stopNodeAgents(layout);
    const owner = labOsOwner();
    const binDir = recorded?.binDir ?? findPgBinDir();
    for (const node of layout.nodes) {
      const server = new LabServer(node, binDir, owner);
      await server.stop('immediate').catch(() => killProcess(server.postmasterPid()));
    }
    rmSync(layout.stateDir, { recursive: true, force: true });
    log('removed', { stateDir: layout.stateDir });
  }

  /**
   * The node's VM vanishes (its host failed; ARM may still call it running): silent first, then
   * its PostgreSQL and its agent die (docs/azure-platform.md §20). Lifted by a power-on, or by
   * `unsilenceNode(host)` and a start.
   */
  async vanish(name: string): Promise<void> {
    const server = this.server(name);
    try {
      silenceNode(server.node.host, withDescendants([...server.processes(), ...nodeAgentProcesses(server.node)]));
    } finally {
      // Dead whether or not the silence could be set up: a VM reported off never runs on.
      await Promise.all([server.kill(), killNodeAgent(server.node)]);
    }
  }

  server(name: string): LabServer {
    const node = this.layout.nodes.find((n) => n.name === name);
    if (!node) throw new InvalidInputError(`no lab node "${name}"; the lab has ${this.layout.nodes.map((n) => n.name).join(', ')}`);
    return new LabServer(node, this.manifest.binDir, labOsOwner());
  }

  /** Admin connection details for one node (the lab's stand-in for the Key Vault secret). */
  adminEndpoint(name: string): PgEndpoint {
    const node = this.server(name).node;
    const { user, password } = this.manifest.credentials.admin;
    return { host: node.host, port: node.port, user, password, database: 'postgres', ...this.tls() };
  }

  /** The application's view: through the load balancer's write or read frontend. */
  appEndpoint(frontend: 'write' | 'read'): PgEndpoint {
    const { user, password, database } = this.manifest.credentials.app;
    return { ...this.layout.ilb[frontend], user, password, database, ...this.tls() };
  }

  /** The lab's CA certificate (PEM), which the app reads from its Key Vault secret. */
  caCertificate(): string {
    return readFileSync(this.layout.caFile, 'utf8');
  }

  private tls(): Pick<PgEndpoint, 'sslMode' | 'sslRootCert'> {
    return { sslMode: 'verify-full', sslRootCert: this.caCertificate() };
  }

  ilb(): IlbControlClient {
    const { host, port } = this.layout.ilb.control;
    return new IlbControlClient(`http://${host}:${port}`);
  }

  private async create(): Promise<void> {
    const [primary, ...standbys] = this.layout.nodes.map((node) => this.server(node.name));
    mkdirSync(this.layout.stateDir, { recursive: true, mode: 0o755 });
    // Under root the servers run as `postgres`, which must be able to reach its directories.
    chmodSync(this.layout.stateDir, 0o755);
    if (isRoot()) await assertReachableByOwner(this.layout.stateDir);
    await this.makeCertificates();
    log('initdb', { node: primary.node.name, host: primary.node.host });
    await primary.initPrimary(this.manifest.credentials);
    await primary.start();
    await this.createRoles(primary.node);
    for (const standby of standbys) {
      log('pg_basebackup', { node: standby.node.name, from: primary.node.name });
      await standby.cloneStandby(primary.node, this.manifest.credentials);
      await standby.start();
    }
    // Only once the standbys stream (a synchronous commit waits for one); every node, for when it is the primary.
    const synchronous = this.manifest.options.synchronousStandbyNames;
    if (synchronous) for (const server of [primary, ...standbys]) await server.setSynchronousStandbyNames(synchronous);
    await this.startLoadBalancer(this.initialPools());
    writeFileSync(this.layout.manifestFile, JSON.stringify(this.manifest, null, 2), { mode: 0o600 });
    await this.waitUntilHealthy();
    log('up', { nodes: this.layout.nodes.map((n) => `${n.name}@${n.host}:${n.port}`), write: this.layout.ilb.write, read: this.layout.ilb.read });
  }

  /**
   * The lab's CA and one certificate per server, valid for its own address and the load balancer's
   * frontends (clients verify-full either way). The CA key is deleted once they are issued.
   */
  private async makeCertificates(): Promise<void> {
    const dir = dirname(this.layout.caFile);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const ca = await createCertificateAuthority(dir, `pg-failover lab ${this.manifest.id ?? ''} CA`, 365);
    const owner = labOsOwner();
    const frontends = [this.layout.ilb.write.host, this.layout.ilb.read.host];
    for (const node of this.layout.nodes) {
      const issued = await issueServerCertificate(ca, dir, node.name, [node.host, ...frontends], 365);
      makeOwnedDir(node.dir, owner, 0o755);
      writeOwnedFile(node.certFile, readFileSync(issued.certFile, 'utf8'), owner, 0o644);
      writeOwnedFile(node.keyFile, readFileSync(issued.keyFile, 'utf8'), owner, 0o600);
    }
    for (const file of readdirSync(dir)) if (join(dir, file) !== this.layout.caFile) rmSync(join(dir, file));
    chmodSync(this.layout.caFile, 0o644);
  }

  private async createRoles(primary: LabNodeLayout): Promise<void> {
    const client: Client = await connect(this.adminEndpoint(primary.name));
    try {
      const { replication, app } = this.manifest.credentials;
      await client.query(`CREATE ROLE ${client.escapeIdentifier(replication.user)} WITH REPLICATION LOGIN PASSWORD ${client.escapeLiteral(replication.password)}`);
      await client.query(`CREATE ROLE ${client.escapeIdentifier(app.user)} WITH LOGIN PASSWORD ${client.escapeLiteral(app.password)}`);
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(app.database)} OWNER ${client.escapeIdentifier(app.user)}`);
    } finally {
      await client.end();
    }
  }

  private async ensureRunning(leaveStopped: readonly string[]): Promise<void> {
    const started = this.layout.nodes.filter((node) => !leaveStopped.includes(node.name));
    for (const node of started) {
      const server = this.server(node.name);
      if (!(await server.isRunning())) {
        log('start', { node: node.name });
        await server.start();
      }
    }
    if (!(await this.ilb().health().catch(() => false))) {
      await this.startLoadBalancer(this.initialPools());
    }
    await waitFor(
      'every started server to answer',
      async () => {
        const inspections = await Promise.all(started.map((node) => inspectNode(node.name, this.adminEndpoint(node.name))));
        return inspections.every((n) => n.reachable) || undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
  }

  /**
   * Pool mode: the first node (the primary a new lab makes) writes, the others read. Probe mode:
   * every node in both pools, as Azure's probe-mode load balancer is deployed; the probes decide.
   */
  private initialPools(): PoolMembership {
    const names = this.layout.nodes.map((n) => n.name);
    return this.layout.ilb.probes ? { writePool: names, readPool: names } : { writePool: names.slice(0, 1), readPool: names.slice(1) };
  }

  private async startLoadBalancer(initialPools: PoolMembership): Promise<void> {
    const spec: IlbDaemonSpec = {
      backends: this.layout.nodes.map(({ name, host, port }) => ({ name, host, port })),
      frontends: { write: this.layout.ilb.write, read: this.layout.ilb.read },
      control: this.layout.ilb.control,
      stateFile: this.layout.ilbStateFile,
      initialPools,
      probes: this.layout.ilb.probes,
    };
    const specFile = join(this.layout.stateDir, 'ilb-spec.json');
    writeFileSync(specFile, JSON.stringify(spec, null, 2));
    const logFd = openSync(this.layout.ilbLogFile, 'a');
    const child = spawn(process.execPath, [...nodeArgsFor(siblingModule(__filename, 'ilb-daemon')), specFile], { detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    writeFileSync(this.layout.ilbPidFile, String(child.pid));
    child.unref();
    await waitFor('the lab load balancer to listen', () => this.ilb().health(), { timeoutMs: 30_000 }).catch((error: Error) => {
      throw new Error(`${error.message}; see ${this.layout.ilbLogFile}:\n${readFileSync(this.layout.ilbLogFile, 'utf8').slice(-2000)}`);
    });
  }

  /** Waits until there is one primary and every standby streams from it. */
  async waitUntilHealthy(timeoutMs = 120_000): Promise<LabStatus> {
    return waitFor(
      'one primary and every standby streaming',
      async () => {
        const status = await this.status();
        const primaries = status.nodes.filter((n) => n.role === 'primary');
        const streaming = status.nodes.filter((n) => n.role === 'standby' && n.streaming);
        return primaries.length === 1 && streaming.length === status.nodes.length - 1 ? status : undefined;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  async inspectAll(): Promise<NodeInspection[]> {
    return Promise.all(this.layout.nodes.map((node) => inspectNode(node.name, this.adminEndpoint(node.name))));
  }

  async status(): Promise<LabStatus> {
    const [inspections, pools, probes] = await Promise.all([
      this.inspectAll(),
      this.ilb().pools().catch((): PoolMembership => ({ writePool: [], readPool: [] })),
      this.ilb().probes().then((view) => view.states ?? undefined, () => undefined),
    ]);
    const primary = inspections.find((n) => n.reachable && n.role === 'primary');
    const primaryLsn = primary?.reachable ? primary.currentLsn : null;
    return {
      nodes: inspections.map((node): LabNodeStatus => {
        if (!node.reachable) return { name: node.name, host: node.host, port: node.port, role: 'down', timeline: null, lsn: null, lagBytes: null, streaming: false };
        return {
          name: node.name,
          host: node.host,
          port: node.port,
          role: node.role,
          timeline: node.timeline,
          lsn: walPosition(node),
          lagBytes: lagBytes(node, primaryLsn),
          streaming: isStreaming(node),
        };
      }),
      ilb: { write: this.layout.ilb.write, read: this.layout.ilb.read, ...pools, ...(probes ? { probes } : {}) },
      connection: { ...this.manifest.credentials.app },
    };
  }
}

async function assertReachableByOwner(dir: string): Promise<void> {
  try {
    await run('test', ['-x', dir], { asUser: labOsOwner().user });
  } catch {
    throw new InvalidInputError(`the postgres OS user cannot reach ${dir}; choose a state directory it can traverse (e.g. under /tmp) with --state-dir or PG_FAILOVER_LAB_DIR`);
  }
}

function killProcess(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

async function stopDaemon(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  await waitFor('the lab load balancer to exit', () => !alive(), { timeoutMs: 10_000, intervalMs: 50 }).catch(() => killProcess(pid));
}
