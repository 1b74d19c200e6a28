import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ClusterConfig, ClusterSchema, NodeConfig } from '../../../src/config/schema';
import { Lab } from '../../../harness/lab/lab';
import { connect } from '../../../src/adapters/postgres/connect';
import { parseScriptResult, ScriptResultData } from '../../../src/domain/script-result';
import { SecretValue } from '../../../src/domain/secret-value';
import { isAtOrPast } from '../../../src/domain/lsn';
import { waitFor } from '../../../harness/util/wait';
import type { VmScriptCall } from '../../../src/vm-scripts/catalogue';
import type { SecretParameters } from '../../../src/ports/vm-commands';

/** The lab described as a cluster configuration, the way the app would see it on Azure. */
export function labCluster(lab: Lab): ClusterConfig {
  const sub = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/lab/providers';
  return ClusterSchema.parse({
    name: 'lab',
    nodes: lab.layout.nodes.map((node) => ({
      name: node.name,
      vmResourceId: `${sub}/Microsoft.Compute/virtualMachines/${node.name}`,
      host: node.host,
      port: node.port,
      overrides: { dataDirectory: node.dataDir, socketDirectory: node.socketDir, passFile: node.passFile, logFile: node.logFile },
    })),
    loadBalancer: { resourceId: `${sub}/Microsoft.Network/loadBalancers/ilb`, writePool: 'write', readPool: 'read', membership: 'ip', virtualNetworkId: `${sub}/Microsoft.Network/virtualNetworks/vnet` },
    postgres: {
      adminUser: lab.manifest.credentials.admin.user,
      adminPasswordSecret: 'pg-admin-password',
      replicationUser: lab.manifest.credentials.replication.user,
      replicationPasswordSecret: 'pg-replication-password',
      sslRootCertSecret: 'pg-tls-ca',
      binDirectory: lab.manifest.binDir,
      control: 'pg_ctl',
      osUser: process.getuid?.() === 0 ? 'postgres' : execFileSync('id', ['-un'], { encoding: 'utf8' }).trim(),
    },
  });
}

export function labNode(cluster: ClusterConfig, name: string): NodeConfig {
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}`);
  return node;
}

/** What rejoin.sh locks for a data directory (lib.sh hold_data_dir_lock): the directory holding it. */
export function rejoinLock(dataDir: string): string {
  return dirname(dataDir);
}

/** The lab's passwords as the secrets the app would read from Key Vault. */
export function labSecrets(lab: Lab) {
  const { admin, replication } = lab.manifest.credentials;
  return {
    replicationPassword: new SecretValue('pg-replication-password', replication.password),
    adminPassword: new SecretValue('pg-admin-password', admin.password),
  };
}

export interface ScriptRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  /** The parsed last line (PGFO_RESULT ...). */
  result: ScriptResultData;
  /** Secret values seen on a command line or in a child's environment while it ran. */
  leaks: string[];
  /** Programs the watcher saw running under the script (evidence that it watched). */
  programsSeen: Set<string>;
}

export interface RunOptions {
  /** Override or remove (undefined) parameters, e.g. to test validation. */
  override?: Record<string, string | undefined>;
  /** Watch /proc while the script runs: every other process's command line and environment. */
  watch?: boolean;
}

/**
 * Runs a catalogue call the way Run Command does: the final script text as a file, executed by
 * bash as root, every parameter (plain and protected) exported as an environment variable.
 */
export async function runVmScript(call: VmScriptCall<unknown> & { secrets?: SecretParameters }, options: RunOptions = {}): Promise<ScriptRun> {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-runcmd-'));
  const file = join(dir, 'script.sh');
  writeFileSync(file, call.script.text, { mode: 0o700 });
  const secretValues = Object.values(call.secrets ?? {}).map((secret) => secret.reveal());
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...call.parameters };
  for (const [name, secret] of Object.entries(call.secrets ?? {})) env[name] = secret.reveal();
  for (const [name, value] of Object.entries(options.override ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  try {
    const child = spawn('bash', [file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const watcher = options.watch ? watchForLeaks(child.pid!, secretValues) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    const seen = watcher?.stop() ?? { leaks: [], programs: new Set<string>() };
    const parsed = parseScriptResult(stdout);
    if (parsed.kind !== 'result') {
      throw new Error(`${call.script.name}: no valid result line (${parsed.kind}${parsed.kind === 'malformed' ? `: ${parsed.reason}` : ''})\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    }
    return { stdout, stderr, exitCode, result: parsed.result, leaks: seen.leaks, programsSeen: seen.programs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a call and insists on ok:true, showing the script's stderr otherwise. */
export async function runOk<T>(call: VmScriptCall<T> & { secrets?: SecretParameters }, options: RunOptions = {}): Promise<{ run: ScriptRun; result: T }> {
  const run = await runVmScript(call, options);
  if (process.env.PGFO_SHOW_SCRIPT_OUTPUT) process.stderr.write(`--- ${call.script.name}\n${run.stderr}${run.stdout}`);
  if (run.result.ok !== true) throw new Error(`${call.script.name} failed: ${JSON.stringify(run.result)}\nstderr:\n${run.stderr}`);
  return { run, result: call.parseResult(run.result) };
}

/**
 * Polls /proc while the script runs. The script's own bash process and its forks (subshells,
 * same command line) are skipped: Run Command itself hands that process the parameters as its
 * environment, and a fork shares that environment block. Every program the script starts
 * (runuser, psql, pg_rewind, ...) must show no secret in its command line or environment.
 */
function watchForLeaks(rootPid: number, secrets: string[]) {
  const leaks = new Set<string>();
  const programs = new Set<string>();
  const rootCmdline = readProc(String(rootPid), 'cmdline');
  const skip = (pid: number, cmdline: string) => pid === rootPid || cmdline === rootCmdline;
  let running = true;
  const scan = () => {
    const found = findSecretsInProcesses(secrets, skip);
    found.leaks.forEach((leak) => leaks.add(leak));
    found.programs.forEach((program) => programs.add(program));
  };
  const loop = async () => {
    while (running) {
      scan();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  void loop();
  return {
    stop: () => {
      running = false;
      scan();
      return { leaks: [...leaks], programs };
    },
  };
}

function readProc(pid: string, what: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * One look at every process (but this one and those `skip` names): any secret in a command
 * line (what `ps` shows) or an environment? Also lists the PostgreSQL programs it saw.
 */
export function findSecretsInProcesses(secrets: string[], skip: (pid: number, cmdline: string) => boolean = () => false) {
  const leaks: string[] = [];
  const programs = new Set<string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = readProc(entry, 'cmdline');
    if (cmdline === undefined || skip(Number(entry), cmdline)) continue;
    const program = cmdline.split('\0')[0].split('/').pop() ?? '';
    if (/^(psql|pg_ctl|pg_rewind|pg_basebackup|pg_controldata|pg_isready|runuser)$/.test(program)) programs.add(program);
    const environ = readProc(entry, 'environ') ?? '';
    for (const secret of secrets) {
      if (cmdline.includes(secret)) leaks.push(`command line of pid ${entry} (${program})`);
      if (environ.includes(secret)) leaks.push(`environment of pid ${entry}: ${cmdline.split('\0').join(' ').trim()}`);
    }
  }
  return { leaks, programs };
}

/** pg_controldata run by the test itself, as the OS user, parsed into label → value. */
export function controldata(lab: Lab, name: string): Record<string, string> {
  const node = lab.server(name).node;
  const args = [join(lab.manifest.binDir, 'pg_controldata'), '-D', node.dataDir];
  const out = process.getuid?.() === 0 ? execFileSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }) : execFileSync(args[0], args.slice(1), { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const fields: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return fields;
}

/** One SQL statement on a lab node as the admin role over TCP. */
export async function sql<R extends Record<string, unknown> = Record<string, unknown>>(lab: Lab, name: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = await connect(lab.adminEndpoint(name));
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function walReceiver(lab: Lab, name: string) {
  const rows = await sql<{ status: string; sender_host: string; sender_port: number; received_tli: number }>(lab, name, 'SELECT status, sender_host, sender_port, received_tli FROM pg_stat_wal_receiver');
  return rows[0];
}

/** Fails the test with the exact leak if any secret showed up anywhere it must not. */
export function expectNoSecretIn(run: ScriptRun, lab: Lab): void {
  const { admin, replication, app } = lab.manifest.credentials;
  for (const password of [admin.password, replication.password, app.password]) {
    expect(run.stdout.includes(password)).toBe(false);
    expect(run.stderr.includes(password)).toBe(false);
  }
  expect(run.leaks).toEqual([]);
}

/**
 * Stops `standby` so that it is certainly not ahead of `candidate`: after the stop, waits until
 * the candidate has received everything the primary had written by then. The candidate's fork
 * point, once promoted, is then at or past the stopped standby's last WAL.
 */
export async function stopStandbyNotAheadOf(lab: Lab, standby: string, primary: string, candidate: string): Promise<void> {
  await lab.server(standby).stop('fast');
  const [{ lsn }] = await sql<{ lsn: string }>(lab, primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
  await waitFor(
    `${candidate} to receive WAL up to ${lsn}`,
    async () => {
      const [row] = await sql<{ received: string | null }>(lab, candidate, 'SELECT pg_last_wal_receive_lsn()::text AS received');
      return row.received !== null && isAtOrPast(row.received, lsn);
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}
