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
  const keyFile = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pgfo-key-')), 'key');
    writeFileSync(file, 'installKEY_0123456789==\n', { mode: 0o600 });
    return file;
  };
  const args = (root: string) => ['--root', root, '--app-url', 'https://pgfo.example.net', '--cluster', 'orders', '--node', 'pg1', '--vm-name', 'orders-pg1'];

  it('installs scripts, units and a 0600 configuration; a second run changes nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pgfo-root-'));
    const first = await runScript('install.sh', [...args(root), '--key-file', keyFile(), '--pg-service', 'postgresql@16-main.service']);
    const second = await runScript('install.sh', [...args(root), '--pg-service', 'postgresql@16-main.service']); // keeps the installed key

    expect(first.code).toBe(0);
    expect(first.results).toEqual([expect.objectContaining({ agent: 'install', outcome: 'installed' })]);
    expect(second.results).toEqual([expect.objectContaining({ outcome: 'unchanged', changed: '' })]);
    const conf = join(root, 'etc/pg-failover/agent.env');
    expect(mode(conf)).toBe('600');
    expect(mode(join(root, 'etc/pg-failover'))).toBe('700');
    expect(readFileSync(conf, 'utf8')).toContain('PGFO_FUNCTION_KEY=installKEY_0123456789==');
    expect(readFileSync(conf, 'utf8')).toContain('PGFO_VM_NAME=orders-pg1');
    expect(first.stdout + first.stderr).not.toContain('installKEY');
    for (const script of ['scheduled-events-agent.sh', 'shutdown-hook.sh']) expect(mode(join(root, 'usr/local/lib/pg-failover-agent', script))).toBe('755');
    expect(readFileSync(join(root, 'etc/systemd/system/pg-failover-shutdown-hook.service.d/10-postgresql.conf'), 'utf8')).toContain('After=postgresql@16-main.service');

    const third = await runScript('install.sh', [...args(root), '--pg-service', 'postgresql@16-main.service', '--shutdown-timeout', '90']);
    expect(third.results).toEqual([expect.objectContaining({ outcome: 'installed', changed: '/etc/pg-failover/agent.env' })]);
  });

  it('refuses to install without a key, and never takes one as an argument', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pgfo-root-'));
    const run = await runScript('install.sh', args(root));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--key-file/);
    expect(existsSync(join(root, 'etc/pg-failover/agent.env'))).toBe(false);
    expect((await runScript('install.sh', [...args(root), '--key', 'secret'])).code).toBe(2);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  (analyze ? it : it.skip)('installs units that systemd-analyze verify accepts', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pgfo-root-'));
    await runScript('install.sh', [...args(root), '--key-file', keyFile()]);
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
