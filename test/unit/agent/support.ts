import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const AGENT_DIR = resolve(__dirname, '..', '..', '..', 'agent');
export const AGENT_KEY = 'agent-test-key_0123456789abcdef==';

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
export function startScript(script: 'scheduled-events-agent.sh' | 'shutdown-hook.sh' | 'install.sh', args: string[], env: Record<string, string> = {}): RunningAgent {
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

export function runScript(script: 'scheduled-events-agent.sh' | 'shutdown-hook.sh' | 'install.sh', args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  return startScript(script, args, env).exited;
}

export function parseResults(stdout: string): Record<string, string>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('PGFO_AGENT '))
    .map((line) => JSON.parse(line.slice('PGFO_AGENT '.length)) as Record<string, string>);
}

/** A 0600 agent configuration file in a fresh directory (state directory beside it). */
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
}

export type AppAnswer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

/** A stand-in for the failover app: answers each request with the script's answer, records them all. */
export async function startFakeApp(answer: (request: AppRequest, index: number) => AppAnswer | Promise<AppAnswer>) {
  const requests: AppRequest[] = [];
  const waiters = new Set<() => void>();
  const hanging = new Set<() => void>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => void respond(req, res, body));
  });
  const respond = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const request = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body };
    requests.push(request);
    for (const waiter of [...waiters]) waiter();
    const reply = await answer(request, requests.length - 1);
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
