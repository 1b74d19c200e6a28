import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '../../src/domain/errors';
import { isRoot } from '../util/exec';
import { waitFor } from '../util/wait';
import type { Lab } from './lab';
import type { LabLayout, LabNodeLayout } from './layout';
import { labOsOwner, writeOwnedFile } from './os-owner';
import { vmScriptDigests } from '../../src/vm-scripts/catalogue';

/** agent/node-agent.py: the node agent that answers the load balancer's probes on each VM. */
export const NODE_AGENT_SCRIPT = resolve(__dirname, '..', '..', 'agent', 'node-agent.py');
export const NODE_AGENT_PORT = 8432;
/** The node steps over HTTPS (PGFO_STEPS_LISTEN), on every node's address. */
export const NODE_STEPS_PORT = 8433;

export interface NodeAgentOptions {
  /** PGFO_CHECK_SECONDS: seconds between two looks at PostgreSQL (default 0.2, a lab's pace). */
  checkSeconds?: number;
  /** PGFO_PEER_TIMEOUT_SECONDS (default 1). */
  peerTimeoutSeconds?: number;
  /** PGFO_MAX_LAG_BYTES (the agent's default: 16 MiB). */
  maxLagBytes?: number;
  /** The probe port on every node's address (default 8432). */
  port?: number;
  /**
   * The certificate the agents serve their steps with: the node's server certificate from the lab's
   * CA (default), or the node's self-signed one, which the app pins (nodeAgent.certificateSecretPrefix).
   */
  stepsTls?: 'ca' | 'self-signed';
  /** More PGFO_ settings, for every node (they win over the ones above). */
  settings?: Record<string, string>;
}

/** What an agent's GET /peer says. */
export interface PeerView {
  node: string;
  inRecovery: boolean | null;
  streaming: boolean;
  upstreamHost: string | null;
  timeline: number | null;
}

/** One line of an agent's log: `{ time, component, node, event, ... }`. */
export type NodeAgentEvent = { event: string } & Record<string, unknown>;

interface AgentFiles {
  config: string;
  pid: string;
  log: string;
  stepKey: string;
  /** The digests of the scripts the app sends (as an installed agent's vm-scripts.sha256). */
  scriptDigests: string;
  /** The node's self-signed steps certificate and its key (stepsTls 'self-signed'). */
  selfSignedCert: string;
  selfSignedKey: string;
}

/** Beside the node's data directory, so that `Lab.down` (which removes the state directory) takes them with it. */
export function nodeAgentFiles(node: LabNodeLayout): AgentFiles {
  return {
    config: join(node.dir, 'node-agent.env'),
    pid: join(node.dir, 'node-agent.pid'),
    log: join(node.dir, 'node-agent.log'),
    stepKey: join(node.dir, 'step-key'),
    scriptDigests: join(node.dir, 'vm-scripts.sha256'),
    selfSignedCert: join(node.dir, 'steps-self-signed.crt'),
    selfSignedKey: join(node.dir, 'steps-self-signed.key'),
  };
}

/**
 * The node's self-signed certificate for its steps (PEM), made once per lab node with its key, as
 * an operator would with openssl: its agent serves it when the certificates are pinned, and the
 * app reads the same PEM from the emulator's Key Vault (labSecrets).
 */
export function labSelfSignedStepsCertificate(node: LabNodeLayout): string {
  const { selfSignedCert, selfSignedKey } = nodeAgentFiles(node);
  if (!existsSync(selfSignedCert)) {
    // Made aside, then renamed key first: the certificate's presence says both are there and match.
    const [key, cert] = [`${selfSignedKey}.${process.pid}`, `${selfSignedCert}.${process.pid}`];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650', '-subj', `/CN=${node.name}`, '-addext', `subjectAltName=IP:${node.host}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const owner = labOsOwner();
    for (const [file, mode] of [[key, 0o600], [cert, 0o644]] as const) {
      chownSync(file, owner.uid, owner.gid);
      chmodSync(file, mode);
    }
    renameSync(key, selfSignedKey);
    renameSync(cert, selfSignedCert);
  }
  return readFileSync(selfSignedCert, 'utf8');
}

/**
 * The node's step key (base64 of 32 random bytes), made once per lab node: its agent reads the
 * file, the app reads the same value from the emulator's Key Vault (labSecrets).
 */
export function labStepKey(node: LabNodeLayout): string {
  const { stepKey } = nodeAgentFiles(node);
  if (!existsSync(stepKey)) writeOwnedFile(stepKey, `${randomBytes(32).toString('base64')}\n`, labOsOwner());
  return readFileSync(stepKey, 'utf8').trim();
}

/**
 * The lab's node agents: one `agent/node-agent.py` per node, listening on the node's own
 * address, run as the OS user that runs the node's PostgreSQL (`postgres` under root) so that
 * psql reaches it over the unix socket with peer authentication, as on a VM. Each runs detached
 * (its own process group) with a pid file, so another process can stop it (`stopNodeAgents`).
 */
export class NodeAgents {
  constructor(
    private readonly lab: Lab,
    private readonly options: NodeAgentOptions = {},
  ) {}

  /** Starts an agent on each of `nodes` (default: every node of the lab) and waits until each answers. */
  static async start(lab: Lab, options: NodeAgentOptions = {}, nodes: readonly string[] = lab.layout.nodes.map((n) => n.name)): Promise<NodeAgents> {
    const agents = new NodeAgents(lab, options);
    await Promise.all(nodes.map((name) => agents.start(name)));
    return agents;
  }

  private node(name: string): LabNodeLayout {
    const node = this.lab.layout.nodes.find((n) => n.name === name);
    if (!node) throw new InvalidInputError(`no lab node "${name}"; the lab has ${this.lab.layout.nodes.map((n) => n.name).join(', ')}`);
    return node;
  }

  private get port(): number {
    return this.options.port ?? NODE_AGENT_PORT;
  }

  /** The settings file of `name`'s agent: the other nodes are its peers. */
  settings(name: string): Record<string, string> {
    const node = this.node(name);
    const peers = this.lab.layout.nodes.filter((n) => n.name !== name).map((n) => `${n.name}=${n.host}:${this.port}`);
    return {
      PGFO_NODE: node.name,
      PGFO_NODE_ADDRESS: node.host,
      PGFO_PEERS: peers.join(','),
      PGFO_PROBE_LISTEN: `${node.host}:${this.port}`,
      PGFO_PG_SOCKET_DIR: node.socketDir,
      PGFO_PG_PORT: String(node.port),
      PGFO_PG_DATABASE: 'postgres',
      PGFO_PSQL: join(this.lab.manifest.binDir, 'psql'),
      PGFO_CHECK_SECONDS: String(this.options.checkSeconds ?? 0.2),
      PGFO_PEER_TIMEOUT_SECONDS: String(this.options.peerTimeoutSeconds ?? 1),
      PGFO_STEPS_LISTEN: `${node.host}:${NODE_STEPS_PORT}`,
      PGFO_STEPS_TLS_CERT: this.options.stepsTls === 'self-signed' ? nodeAgentFiles(node).selfSignedCert : node.certFile,
      PGFO_STEPS_TLS_KEY: this.options.stepsTls === 'self-signed' ? nodeAgentFiles(node).selfSignedKey : node.keyFile,
      PGFO_STEPS_KEY_FILE: nodeAgentFiles(node).stepKey,
      PGFO_STEPS_SCRIPT_DIGESTS: nodeAgentFiles(node).scriptDigests,
      ...(this.options.maxLagBytes === undefined ? {} : { PGFO_MAX_LAG_BYTES: String(this.options.maxLagBytes) }),
      ...this.options.settings,
    };
  }

  /** Starts `name`'s agent unless it runs already; resolves once it answers on its address. */
  async start(name: string): Promise<void> {
    const node = this.node(name);
    const files = nodeAgentFiles(node);
    if (runningPid(files.pid)) return;
    const owner = labOsOwner();
    labStepKey(node);
    if (this.options.stepsTls === 'self-signed') labSelfSignedStepsCertificate(node);
    writeOwnedFile(files.scriptDigests, vmScriptDigests(), owner);
    const content = Object.entries(this.settings(name)).map(([key, value]) => `${key}=${value}\n`).join('');
    writeOwnedFile(files.config, content, owner);
    const python = ['python3', '-B', NODE_AGENT_SCRIPT, '--config', files.config];
    const [program, args] = isRoot() ? ['runuser', ['-u', owner.user, '--', ...python]] : [python[0], python.slice(1)];
    const logFd = openSync(files.log, 'a');
    // The lab's superuser is `postgres`; an ordinary OS user reaches it through the lab's ident map.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', PGUSER: this.lab.manifest.credentials.admin.user };
    const child = spawn(program, args, { detached: true, stdio: ['ignore', logFd, logFd], env });
    closeSync(logFd);
    writeFileSync(files.pid, String(child.pid));
    child.unref();
    const outcome = await waitFor(
      `the node agent of ${name} to answer on ${this.address(name)}`,
      async () => {
        if (!runningPid(files.pid)) return 'exited';
        return (await this.peerView(name).catch(() => undefined))?.node === name ? 'answers' : undefined;
      },
      { timeoutMs: 30_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last lines of ${files.log}:\n${tail(files.log)}`);
    });
    if (outcome === 'exited') throw new Error(`the node agent of ${name} exited; last lines of ${files.log}:\n${tail(files.log)}`);
  }

  /** Stops `name`'s agent (SIGTERM to its process group, SIGKILL if it lingers); nothing when it does not run. */
  async stop(name: string): Promise<void> {
    await stopAgent(nodeAgentFiles(this.node(name)));
  }

  async stopAll(): Promise<void> {
    await stopNodeAgents(this.lab.layout);
  }

  address(name: string): string {
    return `${this.node(name).host}:${this.port}`;
  }

  /** The HTTP status of one request to `name`'s agent, or 0 when it does not answer. */
  async status(name: string, path: string, method = 'GET'): Promise<number> {
    try {
      const response = await fetch(`http://${this.address(name)}${path}`, { method, signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  async peerView(name: string): Promise<PeerView> {
    const response = await fetch(`http://${this.address(name)}/peer`, { signal: AbortSignal.timeout(2_000) });
    if (response.status !== 200) throw new Error(`GET /peer on ${name}: HTTP ${response.status}`);
    return (await response.json()) as PeerView;
  }

  /** Everything `name`'s agent has logged (one JSON object a line; other lines are skipped). */
  events(name: string): NodeAgentEvent[] {
    const { log } = nodeAgentFiles(this.node(name));
    if (!existsSync(log)) return [];
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as NodeAgentEvent);
  }
}

/** Stops every node agent of a lab, found by their pid files (also from another process than the one that started them). */
export async function stopNodeAgents(layout: LabLayout): Promise<void> {
  await Promise.all(layout.nodes.map((node) => stopAgent(nodeAgentFiles(node))));
}

/** The agent of one node's process group leader, found by its pid file; none when it does not run. */
export function nodeAgentProcesses(node: LabNodeLayout): number[] {
  const pid = runningPid(nodeAgentFiles(node).pid);
  return pid ? [pid] : [];
}

/** What a failed host does to one node's agent: SIGKILL to its process group, no notice. */
export async function killNodeAgent(node: LabNodeLayout): Promise<void> {
  const files = nodeAgentFiles(node);
  const pid = runningPid(files.pid);
  if (pid) {
    signalGroup(pid, 'SIGKILL');
    await waitFor('a killed node agent to die', () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50 });
  }
  rmSync(files.pid, { force: true });
}

async function stopAgent(files: AgentFiles): Promise<void> {
  const pid = runningPid(files.pid);
  if (pid) {
    signalGroup(pid, 'SIGTERM');
    await waitFor('a node agent to stop', () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50 }).catch(() => signalGroup(pid, 'SIGKILL'));
    await waitFor('a node agent to die', () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50 });
  }
  rmSync(files.pid, { force: true });
}

/** The pid in `pidFile` if that process still runs. */
function runningPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** The agent leads its own process group (runuser and Python, or Python alone): signal them all. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A process that has exited but was not reaped yet (its parent is another process) holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n') : '(no log)';
}
