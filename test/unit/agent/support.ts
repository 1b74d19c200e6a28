import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ScheduledEventsRecord } from '../../../harness/local/azure-emulator/scheduled-events';

export const AGENT_DIR = resolve(__dirname, '..', '..', '..', 'agent');
/** The audience the agent asks its VM's identity token for (the app's NODE_AUTH_AUDIENCE). */
export const APP_RESOURCE = 'api://pg-failover-nodes-test';

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The PGFO_AGENT result lines, parsed. */
  results: Record<string, string>[];
}

export interface RunningAgent {
  pid: number;
  /** Resolves when the process exits (it is never killed by the helper unless `kill` is called). */
  exited: Promise<AgentRun>;
  kill(): void;
}

/** Starts one of the agent scripts with bash, as systemd would (no inherited secrets). */
export type AgentScript = 'scheduled-events-agent.sh' | 'shutdown-hook.sh' | 'step-enrollment.sh' | 'install.sh';

export function startScript(script: AgentScript, args: string[], env: Record<string, string> = {}): RunningAgent {
  const child = spawn('bash', [join(AGENT_DIR, script), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<AgentRun>((resolveRun, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr, results: parseResults(stdout) }));
  });
  return { pid: child.pid!, exited, kill: () => child.kill('SIGTERM') };
}

export function runScript(script: AgentScript, args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  return startScript(script, args, env).exited;
}

export function parseResults(stdout: string): Record<string, string>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('PGFO_AGENT '))
    .map((line) => JSON.parse(line.slice('PGFO_AGENT '.length)) as Record<string, string>);
}

/** An agent configuration file in a fresh directory (state directory beside it); 0600 as install.sh writes it, though it holds no secret. */
export function writeAgentConfig(settings: Record<string, string>, mode = 0o600): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-agent-'));
  const file = join(dir, 'agent.env');
  const lines = Object.entries({ PGFO_STATE_DIR: join(dir, 'state'), ...settings }).map(([k, v]) => `${k}=${v}`);
  writeFileSync(file, `# test configuration\n${lines.join('\n')}\n`, { mode });
  chmodSync(file, mode);
  return { file, dir };
}

export interface AppRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Whose token the Authorization header carried, when the metadata service handed it out (else undefined). */
  caller?: { vm?: string; resource: string };
  /** False when the app answered 401 without looking at the request (see FakeAppIdentity). */
  authenticated: boolean;
}

/** Who may call the fake app: the metadata service's record of the tokens it handed out, the one VM and the audience accepted. */
export interface FakeAppIdentity {
  imds: { record: ScheduledEventsRecord };
  vm: string;
  resource: string;
}

export type AppAnswer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

/**
 * A stand-in for the failover app: records every request; one that carries
 * "Authorization: Bearer <a token the metadata service handed to `identity.vm` for `identity.resource`>"
 * gets the script's answer, any other 401 (as the app's node routes answer), the script not asked.
 */
export async function startFakeApp(answer: (request: AppRequest, index: number) => AppAnswer | Promise<AppAnswer>, identity: FakeAppIdentity) {
  const requests: AppRequest[] = [];
  const waiters = new Set<() => void>();
  const hanging = new Set<() => void>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => void respond(req, res, body));
  });
  const respond = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const issued = identity.imds.record.tokens.find((token) => req.headers.authorization === `Bearer ${token.accessToken}`);
    const caller = issued ? { ...(issued.vm ? { vm: issued.vm } : {}), resource: issued.resource } : undefined;
    const authenticated = caller?.vm === identity.vm && caller.resource === identity.resource;
    const request: AppRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, ...(caller ? { caller } : {}), authenticated };
    requests.push(request);
    for (const waiter of [...waiters]) waiter();
    const reply: AppAnswer = authenticated
      ? await answer(request, requests.length - 1)
      : { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { title: 'Unauthorized', detail: `only node VM ${identity.vm}'s managed identity token for ${identity.resource} is accepted` } };
    if (reply === 'hang') {
      hanging.add(() => res.destroy());
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.headers ?? {}) });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  };
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    /** Resolves once at least `count` requests arrived. */
    waitForRequests(count: number, timeoutMs = 60_000): Promise<void> {
      return new Promise((done, fail) => {
        const check = () => {
          if (requests.length >= count) {
            clearTimeout(timer);
            waiters.delete(check);
            done();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          fail(new Error(`only ${requests.length} of ${count} requests arrived`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      for (const drop of hanging) drop();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** A loopback port nobody listens on (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return `http://127.0.0.1:${port}`;
}

/** The claims of a JWT (its middle part, base64url-decoded); the signature is not checked. */
export function jwtClaims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a JWT: ${parts.length} parts`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** `root` and every process below it, now: pid, command line and environment (what `ps` and /proc show other users of the machine). */
export function processTree(root: number): { pid: number; args: string; environ: string }[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (!tree.has(p.ppid) || tree.has(p.pid)) continue;
      tree.add(p.pid);
      grew = true;
    }
  }
  const environ = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      return ''; // it ended meanwhile
    }
  };
  return table.filter((p) => tree.has(p.pid)).map((p) => ({ pid: p.pid, args: p.args, environ: environ(p.pid) }));
}
