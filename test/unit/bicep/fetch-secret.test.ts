/**
 * The sample VMs' boot script that reads a password from Key Vault with the VM's managed identity
 * (bicep/modules/cloud-init/fetch-secret.sh, /usr/local/sbin/pg-sample-fetch-secret on the VMs),
 * run with bash against the project's emulated metadata service (its managed identity tokens) and
 * a small Key Vault stand-in that answers as Key Vault with Azure RBAC does: 401 without a token
 * for Key Vault, 403 until the caller's role assignment takes effect (or, when set to, 403 for the
 * network: public access off or the vault's firewall), 404 for a secret that does not exist.
 * Every program the script starts runs through a wrapper that logs its arguments and environment,
 * so the tests can show that the secret (and the token) never reach either.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startScheduledEventsEmulator, type ScheduledEventsEmulator } from '../../../harness/local/azure-emulator/scheduled-events';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const SCRIPT = join(REPO_ROOT, 'bicep', 'modules', 'cloud-init', 'fetch-secret.sh');
const VAULT_RESOURCE = 'https://vault.azure.net';
const VM = 'pgtry-pg1';
/** Loopback addresses of this file (127.70.0.0/16 is this test's block). */
const HOSTS = { imds: '127.70.15.1', vault: '127.70.15.2', proxy: '127.70.15.3' };
/** Programs the script may start; each is wrapped. */
const WRAPPED = ['curl', 'awk', 'mktemp', 'rm', 'grep', 'cat', 'tr', 'dirname', 'chmod', 'mv', 'sleep', 'date', 'paste'];

/** A password with every kind of character JSON escapes or a decoder could get wrong. */
const SECRET = 'Pa$$w0rd:with\\back"quote/slash+plus é€😀 end';

interface VaultRequest {
  path: string;
  status: number;
  vm?: string;
}

/** Key Vault with Azure RBAC, as far as one secret read goes. */
interface FakeVault {
  url: string;
  requests: VaultRequest[];
  secrets: Map<string, string>;
  /** vm/secret pairs whose role assignment is in effect. */
  grants: Set<string>;
  /** Grant vm/secret once that many 403 answers were given for it (an assignment taking effect). */
  grantAfter: Map<string, number>;
  /** Write JSON with every non-ASCII character (and +) as \uXXXX, as some serializers do. */
  escapeNonAscii: boolean;
  /** Refuse every read for the network, as Key Vault does (403 with this inner error code). */
  networkRefusal?: 'ForbiddenByConnection' | 'ForbiddenByFirewall';
  stop(): Promise<void>;
}

async function startFakeVault(imds: ScheduledEventsEmulator): Promise<FakeVault> {
  const requests: VaultRequest[] = [];
  const secrets = new Map<string, string>();
  const grants = new Set<string>();
  const grantAfter = new Map<string, number>();
  const refused = new Map<string, number>();
  const vault: Partial<FakeVault> = { requests, secrets, grants, grantAfter, escapeNonAscii: false };
  const json = (body: unknown) => {
    const text = JSON.stringify(body);
    return vault.escapeNonAscii ? text.replace(/[^\x20-\x7e]|\+/gu, (c) => c.split('').map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')) : text;
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://vault');
    const answer = (status: number, body: unknown, vm?: string, headers: Record<string, string> = {}) => {
      requests.push({ path: url.pathname, status, ...(vm ? { vm } : {}) });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(json(body));
    };
    const match = /^\/secrets\/([0-9A-Za-z-]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !match) return answer(404, { error: { code: 'NotFound', message: 'not a secret read' } });
    if (url.searchParams.get('api-version') !== '7.4') return answer(400, { error: { code: 'BadParameter', message: 'The request URI must include the api-version query parameter.' } });
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) {
      return answer(401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, undefined, {
        'WWW-Authenticate': `Bearer authorization="https://login.microsoftonline.com/tenant", resource="${VAULT_RESOURCE}"`,
      });
    }
    // Only a token the metadata service issued, for Key Vault.
    const token = imds.record.tokens.find((t) => t.accessToken === bearer);
    if (!token || token.resource !== VAULT_RESOURCE) return answer(401, { error: { code: 'Unauthorized', message: 'AKV10022: Invalid audience.' } });
    const name = match[1];
    // Key Vault's answers when the request did not come the way the vault's network settings allow
    // (microsoft/multimodal-ai#171, Azure-Samples/azuresandbox#429), whatever the caller's role.
    if (vault.networkRefusal === 'ForbiddenByConnection') {
      const message = 'Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: appid=…\r\nVault: pgtry-kv;location=westeurope';
      return answer(403, { error: { code: 'Forbidden', message, innererror: { code: 'ForbiddenByConnection' } } }, token.vm);
    }
    if (vault.networkRefusal === 'ForbiddenByFirewall') {
      const message = 'Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7\r\nVault: pgtry-kv;location=westeurope';
      return answer(403, { error: { code: 'Forbidden', message, innererror: { code: 'ForbiddenByFirewall' } } }, token.vm);
    }
    const grant = `${token.vm}/${name}`;
    if (!grants.has(grant)) {
      const count = (refused.get(grant) ?? 0) + 1;
      refused.set(grant, count);
      if (grantAfter.has(grant) && count >= grantAfter.get(grant)!) grants.add(grant);
      return answer(
        403,
        {
          error: {
            code: 'Forbidden',
            message: `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nAssignment: (not found)\r\n`,
            innererror: { code: 'ForbiddenByRbac' },
          },
        },
        token.vm,
      );
    }
    const value = secrets.get(name);
    if (value === undefined) return answer(404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name} was not found in this key vault.` } }, token.vm);
    // A tag named "value" too: only the top-level member is the secret.
    answer(200, { value, id: `${vault.url}/secrets/${name}/0123456789abcdef`, attributes: { enabled: true, created: 1700000000 }, tags: { value: 'not-the-secret' } }, token.vm);
  });
  await new Promise<void>((done) => server.listen(0, HOSTS.vault, done));
  vault.url = `http://${HOSTS.vault}:${(server.address() as AddressInfo).port}`;
  vault.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  };
  return vault as FakeVault;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the wrapped programs were started with: their arguments and their environment. */
  argvLog: string;
}

describe('pg-sample-fetch-secret (the sample VMs read their passwords from Key Vault at boot)', () => {
  let imds: ScheduledEventsEmulator;
  let vault: FakeVault;
  let dir: string;
  let wrappers: string;

  beforeAll(async () => {
    imds = await startScheduledEventsEmulator({ host: HOSTS.imds, vms: [VM] });
    vault = await startFakeVault(imds);
    dir = mkdtempSync(join(tmpdir(), 'pg-sample-fetch-secret-'));
    // Each wrapper logs how it was started (arguments, exported environment), then runs the program.
    wrappers = join(dir, 'bin');
    mkdirSync(wrappers);
    for (const program of WRAPPED) {
      const real = spawnSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
      expect(real).toMatch(/^\//);
      writeFileSync(join(wrappers, program), `#!/bin/bash\n{ printf '%s' "\${0##*/}"; printf ' %q' "$@"; printf '\\n'; export -p; } >>"$ARGV_LOG"\nexec ${real} "$@"\n`);
      chmodSync(join(wrappers, program), 0o755);
    }
  });
  afterAll(async () => {
    await vault?.stop();
    await imds?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    vault.requests.length = 0;
    vault.secrets.clear();
    vault.grants.clear();
    vault.grantAfter.clear();
    vault.escapeNonAscii = false;
    vault.networkRefusal = undefined;
    imds.record.tokens.length = 0;
  });

  /** A fresh /run stand-in (TMPDIR) and target directory for one run. */
  const fresh = () => {
    const run = mkdtempSync(join(dir, 'run-'));
    const tmp = join(run, 'tmp');
    const target = join(run, 'secrets');
    mkdirSync(tmp, { mode: 0o700 });
    mkdirSync(target, { mode: 0o700 });
    return { tmp, target, argvLog: join(run, 'argv.log') };
  };

  const fetchSecret = (args: string[], paths: ReturnType<typeof fresh>, env: Record<string, string> = {}): Promise<Run> =>
    new Promise((done, fail) => {
      const child = spawn('bash', [SCRIPT, ...args], {
        env: {
          PATH: `${wrappers}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          HOME: dir,
          TMPDIR: paths.tmp,
          ARGV_LOG: paths.argvLog,
          PG_SAMPLE_AGENT_LIB: join(REPO_ROOT, 'agent', 'lib.sh'),
          PG_SAMPLE_IMDS_URL: imds.baseUrl(VM),
          PG_SAMPLE_VAULT_RESOURCE: VAULT_RESOURCE,
          PG_SAMPLE_SECRET_ATTEMPTS: '5',
          PG_SAMPLE_SECRET_RETRY_SECONDS: '0',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', fail);
      child.on('close', (code) => done({ code, stdout, stderr, argvLog: existsSync(paths.argvLog) ? readFileSync(paths.argvLog, 'utf8') : '' }));
    });

  /** Nothing of the secret or of a token anywhere it must not be: arguments, environments, output. */
  const expectNoLeak = (run: Run, secret: string) => {
    expect(run.argvLog).toContain('curl '); // the wrappers did log
    for (const text of [run.argvLog, run.stdout, run.stderr]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(JSON.stringify(secret).slice(1, -1));
      for (const token of imds.record.tokens) expect(text).not.toContain(token.accessToken);
    }
  };

  it('is bash that shellcheck passes (following the agent\'s lib.sh it sources)', () => {
    expect(spawnSync('bash', ['-n', SCRIPT], { encoding: 'utf8' }).status).toBe(0);
    const check = spawnSync('shellcheck', ['-x', SCRIPT], { encoding: 'utf8', cwd: REPO_ROOT });
    if (check.error) throw new Error(`shellcheck is needed to check ${SCRIPT}: ${check.error.message}`);
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('waits while Key Vault answers 403 (the role assignment not yet in effect), then writes the secret, exactly, to a 0600 file and leaves nothing else behind', async () => {
    vault.secrets.set('pg-replication-password', SECRET);
    vault.grantAfter.set(`${VM}/pg-replication-password`, 2);
    const paths = fresh();
    const target = join(paths.target, 'replication');
    writeFileSync(target, 'an older value', { mode: 0o644 });
    const run = await fetchSecret([`${vault.url}/`, 'pg-replication-password', target], paths);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: '' });
    expect(readFileSync(target)).toEqual(Buffer.from(SECRET, 'utf8'));
    expect(statSync(target).mode & 0o777).toBe(0o600);
    // Nothing else: the temporary directory is gone and the target's directory holds only the target.
    expect(readdirSync(paths.tmp)).toEqual([]);
    expect(readdirSync(paths.target)).toEqual(['replication']);
    // Two 403s, each retried with a line that says why, then the secret.
    expect(vault.requests.map((r) => [r.status, r.vm])).toEqual([
      [403, VM],
      [403, VM],
      [200, VM],
    ]);
    const waits = run.stderr.split('\n').filter((line) => line.includes(' info: secret pg-replication-password, attempt '));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toMatch(/attempt 1 of 5: no access to secret pg-replication-password yet \(HTTP 403 "code":"Forbidden" "code":"ForbiddenByRbac"\): the VM's role on it takes minutes to take effect; next try in 0s$/);
    expect(run.stderr).toMatch(/secret pg-replication-password written to /);
    // One token, asked for Key Vault from the metadata service, reused for every attempt.
    expect(imds.record.tokens.map((t) => [t.vm, t.resource])).toEqual([[VM, VAULT_RESOURCE]]);
    expectNoLeak(run, SECRET);
    // The secret reached awk on stdin, never as an argument: the awk programs are the only arguments.
    expect(run.argvLog.split('\n').filter((line) => line.startsWith('curl ')).every((line) => !line.includes('Bearer'))).toBe(true);
    expect(run.argvLog).toMatch(/^curl .* -H @.*\/auth /m);
  });

  /** One read of a secret the VM's role allows (value VALUE), into a fresh target file. */
  const readGranted = async (name: string, file: string, value = SECRET) => {
    vault.secrets.set(name, value);
    vault.grants.add(`${VM}/${name}`);
    const paths = fresh();
    const target = join(paths.target, file);
    return { paths, target, run: await fetchSecret([vault.url, name, target], paths) };
  };

  it('decodes \\uXXXX escapes (a serializer that escapes non-ASCII characters) to the same bytes', async () => {
    vault.escapeNonAscii = true;
    const { target, run } = await readGranted('pg-admin-password', 'admin');
    expect(run.code).toBe(0);
    expect(readFileSync(target)).toEqual(Buffer.from(SECRET, 'utf8'));
    expect(vault.requests.map((r) => r.status)).toEqual([200]);
    expectNoLeak(run, SECRET);
  });

  it('fails at once, saying so, when the secret does not exist (404): no retry, no file', async () => {
    vault.grants.add(`${VM}/pg-missing`);
    const paths = fresh();
    const target = join(paths.target, 'missing');
    const run = await fetchSecret([vault.url, 'pg-missing', target], paths);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error: Key Vault http:\/\/127\.70\.15\.2:\d+ has no secret pg-missing \(HTTP 404 "code":"SecretNotFound"\): the deployment writes it \(deploySampleCluster\)/);
    expect(vault.requests.map((r) => r.status)).toEqual([404]);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(paths.tmp)).toEqual([]);
    expect(readdirSync(paths.target)).toEqual([]);
  });

  it.each(['ForbiddenByConnection', 'ForbiddenByFirewall'] as const)('stops at once on a 403 for the network (%s), not the role: no retry, no file, a hint at private DNS', async (code) => {
    vault.networkRefusal = code;
    const { paths, target, run } = await readGranted('pg-replication-password', 'replication');
    expect(run.code).toBe(2);
    expect(vault.requests.map((r) => r.status)).toEqual([403]);
    expect(run.stderr).not.toMatch(/attempt 1 of/);
    expect(run.stderr).toContain(`error: Key Vault refused this VM's network, not its role, for secret pg-replication-password (HTTP 403 "code":"Forbidden" "code":"${code}"): `);
    expect(run.stderr).toMatch(/the VM reached the vault's public address, not its private endpoint; \S+ must resolve to a private address here \(private DNS zone privatelink\.vaultcore\.azure\.net linked to this VM's network\)$/m);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(paths.tmp)).toEqual([]);
    expect(readdirSync(paths.target)).toEqual([]);
    expectNoLeak(run, SECRET);
  });

  it('gives up after its bounded number of attempts when the grant never takes effect, with the last reason', async () => {
    vault.secrets.set('pg-replication-password', SECRET);
    const paths = fresh();
    const target = join(paths.target, 'replication');
    const run = await fetchSecret([vault.url, 'pg-replication-password', target], paths, { PG_SAMPLE_SECRET_ATTEMPTS: '3' });
    expect(run.code).toBe(2);
    expect(vault.requests.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(run.stderr).toMatch(/error: gave up on secret pg-replication-password after 3 attempts: no access to secret pg-replication-password yet \(HTTP 403 /);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(paths.tmp)).toEqual([]);
  });

  it('retries while the metadata service has no identity for the VM, and never calls Key Vault without a token', async () => {
    const paths = fresh();
    const run = await fetchSecret([vault.url, 'pg-replication-password', join(paths.target, 'x')], paths, {
      PG_SAMPLE_IMDS_URL: imds.baseUrl('not-this-vm'),
      PG_SAMPLE_SECRET_ATTEMPTS: '2',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/attempt 1 of 2: no managed identity token from the metadata service \(HTTP 404 "error":"Not found \(no emulated VM named not-this-vm\)"/);
    expect(run.stderr).toMatch(/error: gave up on secret pg-replication-password after 2 attempts: no managed identity token/);
    expect(vault.requests).toEqual([]);
  });

  it('refuses a value it could not hand on intact (a line break) and writes nothing', async () => {
    const { paths, run } = await readGranted('pg-replication-password', 'replication', 'two\nlines');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error: secret pg-replication-password is not a string without control characters/);
    expect(readdirSync(paths.target)).toEqual([]);
    expect(readdirSync(paths.tmp)).toEqual([]);
  });

  it('asks the metadata service for a Key Vault token named after the vault\'s own domain (https://vault.azure.net), and refuses a vault URL that is neither Key Vault\'s nor loopback', async () => {
    // Every https request goes to a proxy that records where it was sent and refuses it: nothing leaves the machine.
    const connects: string[] = [];
    const proxy: TcpServer = createTcpServer((socket) => {
      socket.once('data', (data: Buffer) => {
        connects.push(data.toString().split('\r\n')[0]);
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      });
    });
    await new Promise<void>((done) => proxy.listen(0, HOSTS.proxy, done));
    try {
      const paths = fresh();
      const run = await fetchSecret(['https://pgtry-kv-abc123.vault.azure.net/', 'pg-replication-password', join(paths.target, 'x')], paths, {
        PG_SAMPLE_VAULT_RESOURCE: '', // the default: derived from the vault's URL
        PG_SAMPLE_SECRET_ATTEMPTS: '1',
        https_proxy: `http://${HOSTS.proxy}:${(proxy.address() as AddressInfo).port}`,
      });
      expect(run.code).toBe(2);
      expect(imds.record.tokens.map((t) => t.resource)).toEqual(['https://vault.azure.net']);
      expect(connects).toEqual(['CONNECT pgtry-kv-abc123.vault.azure.net:443 HTTP/1.1']);
      expect(run.stderr).toMatch(/gave up on secret pg-replication-password after 1 attempts: no answer from Key Vault \(HTTP 000 /);
      // Plain http is for a loopback stand-in only.
      const refused = await fetchSecret(['http://pgtry-kv-abc123.vault.azure.net', 'pg-replication-password', join(paths.target, 'x')], paths);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/VAULT_URL must be the vault's URI, https:\/\/<vault>\.vault\.azure\.net\//);
    } finally {
      await new Promise<void>((done) => proxy.close(() => done()));
    }
  });
});
