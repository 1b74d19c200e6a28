import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_DIR, runScript } from './support';

const SCRIPTS = ['lib.sh', 'scheduled-events-agent.sh', 'shutdown-hook.sh', 'install.sh'];
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('agent scripts', () => {
  it.each(SCRIPTS)('%s passes bash -n and shellcheck', (script) => {
    execFileSync('bash', ['-n', join(AGENT_DIR, script)]);
    const check = spawnSync('shellcheck', ['-x', join(AGENT_DIR, script)], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});

describe('install.sh', () => {
  const RESOURCE = 'api://pg-failover-nodes-test';
  const args = (root: string) => ['--root', root, '--app-url', 'https://pgfo.example.net', '--cluster', 'orders', '--node', 'pg1', '--vm-name', 'orders-pg1'];
  const newRoot = () => mkdtempSync(join(tmpdir(), 'pgfo-root-'));
  /** The configuration as the agent reads it (lib.sh's load_config): NAME=value lines. */
  const loaded = (file: string) =>
    execFileSync('bash', ['-c', `source ${JSON.stringify(join(AGENT_DIR, 'lib.sh'))}; load_config "$1"; for n in "\${!CFG[@]}"; do printf '%s=%s\\n' "$n" "\${CFG[$n]}"; done`, 'load', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim()
      .split('\n')
      .sort();

  it('installs scripts, units and a configuration naming the app\'s audience, no key; a second run changes nothing', async () => {
    const root = newRoot();
    const first = await runScript('install.sh', [...args(root), '--app-resource', RESOURCE, '--pg-service', 'postgresql@16-main.service']);
    const second = await runScript('install.sh', [...args(root), '--app-resource', RESOURCE, '--pg-service', 'postgresql@16-main.service']);

    expect(first.code).toBe(0);
    expect(first.results).toEqual([expect.objectContaining({ agent: 'install', outcome: 'installed' })]);
    expect(second.results).toEqual([expect.objectContaining({ outcome: 'unchanged', changed: '' })]);
    const conf = join(root, 'etc/pg-failover/agent.env');
    expect(mode(conf)).toBe('600');
    expect(mode(join(root, 'etc/pg-failover'))).toBe('700');
    const text = readFileSync(conf, 'utf8');
    expect(text).toContain(`PGFO_APP_RESOURCE=${RESOURCE}\n`);
    expect(text).toContain('PGFO_VM_NAME=orders-pg1');
    expect(text).not.toMatch(/^PGFO_(FUNCTION_KEY|AUTH|MI_CLIENT_ID)=/m);
    // The agent takes the file as it is.
    expect(loaded(conf)).toEqual(expect.arrayContaining(['PGFO_APP_URL=https://pgfo.example.net', `PGFO_APP_RESOURCE=${RESOURCE}`, 'PGFO_NODE=pg1', 'PGFO_VM_NAME=orders-pg1']));
    for (const script of ['scheduled-events-agent.sh', 'shutdown-hook.sh']) expect(mode(join(root, 'usr/local/lib/pg-failover-agent', script))).toBe('755');
    expect(readFileSync(join(root, 'etc/systemd/system/pg-failover-shutdown-hook.service.d/10-postgresql.conf'), 'utf8')).toContain('After=postgresql@16-main.service');

    const third = await runScript('install.sh', [...args(root), '--app-resource', RESOURCE, '--pg-service', 'postgresql@16-main.service', '--shutdown-timeout', '90']);
    expect(third.results).toEqual([expect.objectContaining({ outcome: 'installed', changed: '/etc/pg-failover/agent.env' })]);
  });

  it('replaces an older install\'s configuration that held the function key', async () => {
    const root = newRoot();
    const conf = join(root, 'etc/pg-failover/agent.env');
    mkdirSync(join(root, 'etc/pg-failover'), { recursive: true, mode: 0o700 });
    writeFileSync(conf, 'PGFO_APP_URL=https://pgfo.example.net\nPGFO_CLUSTER=orders\nPGFO_NODE=pg1\nPGFO_AUTH=key\nPGFO_FUNCTION_KEY=installKEY_0123456789==\n', { mode: 0o600 });

    const run = await runScript('install.sh', [...args(root), '--app-resource', RESOURCE]);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'installed', changed: expect.stringContaining('/etc/pg-failover/agent.env') })]);
    expect(readFileSync(conf, 'utf8')).not.toMatch(/installKEY|PGFO_FUNCTION_KEY|PGFO_AUTH/);
    expect(readFileSync(conf, 'utf8')).toContain(`PGFO_APP_RESOURCE=${RESOURCE}`);
    expect(run.stdout + run.stderr).not.toContain('installKEY');
  });

  it.each(['--key-file', '--auth', '--mi-client-id'])('refuses %s (the function key is gone) and writes nothing', async (option) => {
    const root = newRoot();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'pgfo-key-')), 'key');
    writeFileSync(keyFile, 'installKEY_0123456789==\n', { mode: 0o600 });
    const value = { '--key-file': keyFile, '--auth': 'key', '--mi-client-id': '6a4f1c52-8a43-4c8e-9d8c-0b8a2f3c1d7e' }[option]!;

    const run = await runScript('install.sh', [...args(root), '--app-resource', RESOURCE, option, value]);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`${option} is gone: the agent authenticates with the VM's managed identity \\(--app-resource\\)`));
    expect(run.results).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses to install without --app-resource, naming it, and writes nothing', async () => {
    const root = newRoot();
    const run = await runScript('install.sh', args(root));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--app-resource must be the app's NODE_AUTH_AUDIENCE/);
    expect(readdirSync(root)).toEqual([]);
    expect(existsSync(join(root, 'etc/pg-failover/agent.env'))).toBe(false);
    expect((await runScript('install.sh', [...args(root), '--app-resource', 'has space'])).code).toBe(2);
    expect((await runScript('install.sh', [...args(root), '--key', 'secret'])).code).toBe(2);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  (analyze ? it : it.skip)('installs units that systemd-analyze verify accepts', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pgfo-root-'));
    await runScript('install.sh', [...args(root), '--app-resource', RESOURCE]);
    // verify --root needs systemd's own units and the binaries the units name inside that root.
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'bin'), { recursive: true });
    cpSync('/bin/true', join(root, 'bin/true'));
    const units = readdirSync(join(root, 'etc/systemd/system'))
      .filter((f) => f.endsWith('.service'))
      .map((f) => join(root, 'etc/systemd/system', f));
    expect(units).toHaveLength(2);
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...units], { encoding: 'utf8' });
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
  });
});
