import { parse } from 'acorn';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { AGENT_DIR, runScript } from './support';
import { VM_SCRIPT_NAMES, vmScriptDigests, vmScriptText } from '../../../src/vm-scripts/catalogue';

const NODE_AGENT = ['--node-address', '10.0.0.4', '--peers', 'pg2=10.0.0.5:8432,pg3=10.0.0.6:8432'];
/** The files of --steps-port: a certificate, its key and a step key, in a fresh directory. */
const stepFiles = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-steps-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    return join(dir, name);
  };
  const key = `${randomBytes(32).toString('base64')}\n`;
  return {
    key,
    options: ['--steps-port', '8433', '--steps-tls-cert', file('server.crt', 'CERT\n'), '--steps-tls-key', file('server.key', 'KEY\n'), '--steps-key-file', file('step-key', key)],
  };
};

/** A self-signed certificate and its key made with openssl, and one issued by a CA, in a fresh directory. */
const certificates = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-certs-'));
  const path = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-days', '30', '-subj', '/CN=pg1', '-keyout', path('self.key'), '-out', path('self.crt')], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-x509', ...ec, '-days', '30', '-subj', '/CN=cluster-ca', '-keyout', path('ca.key'), '-out', path('ca.crt')], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', ...ec, '-subj', '/CN=pg1', '-keyout', path('issued.key'), '-out', path('issued.csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', path('issued.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-days', '30', '-out', path('issued.crt')], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', ...ec, '-subj', '/CN=pg1', '-keyout', path('old.key'), '-out', path('old.csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', path('old.csr'), '-signkey', path('old.key'), '-days', '-1', '-out', path('old.crt')], { stdio: 'ignore' });
  return { selfSigned: { cert: path('self.crt'), key: path('self.key') }, issued: { cert: path('issued.crt'), key: path('issued.key') }, expired: { cert: path('old.crt'), key: path('old.key') } };
};

const SCRIPTS = ['lib.sh', 'scheduled-events-agent.sh', 'shutdown-hook.sh', 'step-enrollment.sh', 'install.sh'];
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
    const { selfSigned } = certificates();
    await runScript('install.sh', [...args(root), '--app-resource', RESOURCE, ...NODE_AGENT, '--steps-port', '8433', '--steps-tls-cert', selfSigned.cert, '--steps-tls-key', selfSigned.key, '--enroll-steps']);
    // verify --root needs systemd's own units and the binaries the units name inside that root.
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'bin'), { recursive: true });
    cpSync('/bin/true', join(root, 'bin/true'));
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    copyFileSync('/usr/bin/python3', join(root, 'usr/bin/python3'));
    const units = readdirSync(join(root, 'etc/systemd/system'))
      .filter((f) => f.endsWith('.service'))
      .map((f) => join(root, 'etc/systemd/system', f));
    expect(units).toHaveLength(4);
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...units], { encoding: 'utf8' });
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
  });

  describe('the node agent (--node-address)', () => {
    const LIB = 'usr/local/lib/pg-failover-agent';
    const withAgent = (root: string, extra: string[] = []) => [...args(root), '--app-resource', RESOURCE, ...NODE_AGENT, ...extra];
    /** The installed agent's own parser on the installed configuration, its absolute paths moved under the test's root. */
    const agentConfig = (root: string): Record<string, unknown> => {
      const file = join(root, 'etc/pg-failover/node-agent.env');
      const copy = join(mkdtempSync(join(tmpdir(), 'pgfo-env-')), 'node-agent.env');
      const text = readFileSync(file, 'utf8')
        .replace('=/run/credentials/pg-failover-node-agent.service/step-key', `=${join(root, 'etc/pg-failover/step-key')}`)
        .replaceAll(`=/${LIB}/`, `=${join(root, LIB)}/`);
      writeFileSync(copy, text);
      const program = [
        'import dataclasses, json, sys',
        'sys.path.insert(0, sys.argv[1])',
        'from node_agent.config import load_config',
        'print(json.dumps(dataclasses.asdict(load_config(sys.argv[2]))))',
      ].join('\n');
      return JSON.parse(execFileSync('python3', ['-I', '-B', '-c', program, join(root, LIB), copy], { encoding: 'utf8' })) as Record<string, unknown>;
    };
    it('installs the agent, its unit and a configuration its own parser accepts; a second run changes nothing', async () => {
      const root = newRoot();
      const first = await runScript('install.sh', withAgent(root));
      const second = await runScript('install.sh', withAgent(root));

      expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
      expect(first.results).toEqual([expect.objectContaining({ outcome: 'installed', changed: expect.stringContaining('/etc/pg-failover/node-agent.env') })]);
      expect(second.results).toEqual([expect.objectContaining({ outcome: 'unchanged', changed: '' })]);
      expect(mode(join(root, 'etc/pg-failover/node-agent.env'))).toBe('600');
      expect(mode(join(root, LIB, 'node-agent.py'))).toBe('755');
      const sources = readdirSync(join(AGENT_DIR, 'node_agent')).filter((file) => file.endsWith('.py'));
      expect(sources.length).toBeGreaterThan(5);
      for (const file of sources) expect(readFileSync(join(root, LIB, 'node_agent', file), 'utf8')).toBe(readFileSync(join(AGENT_DIR, 'node_agent', file), 'utf8'));
      expect(readFileSync(join(root, 'etc/systemd/system/pg-failover-node-agent.service'), 'utf8')).toBe(readFileSync(join(AGENT_DIR, 'systemd/pg-failover-node-agent.service'), 'utf8'));
      expect(agentConfig(root)).toMatchObject({
        node: 'pg1',
        node_address: '10.0.0.4',
        peers: [
          { name: 'pg2', host: '10.0.0.5', port: 8432 },
          { name: 'pg3', host: '10.0.0.6', port: 8432 },
        ],
        listen_host: '0.0.0.0',
        listen_port: 8432,
        steps: null,
        warnings: [],
      });
      // No steps: no key, no scripts, no polkit rule, no write access.
      for (const path of ['etc/pg-failover/step-key', `${LIB}/vm-scripts.sha256`, 'etc/polkit-1', 'etc/systemd/system/pg-failover-node-agent.service.d']) expect(existsSync(join(root, path))).toBe(false);
    });

    it('with --steps-port: the digests of the VM scripts the app sends, the key as a credential of the agent\'s unit only, write access to the data directories, a polkit rule for PostgreSQL\'s unit alone', async () => {
      const root = newRoot();
      const steps = stepFiles();
      const run = await runScript('install.sh', withAgent(root, [...steps.options, '--pg-service', 'postgresql@16-main.service']));

      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.stdout).not.toContain(steps.key.trim());
      const key = join(root, 'etc/pg-failover/step-key');
      expect([readFileSync(key, 'utf8'), mode(key)]).toEqual([steps.key, '600']);
      // From the checkout's scripts, read by the agent's own code: the same digests the app's catalogue (and the agent bundle) gives.
      const digests = join(root, LIB, 'vm-scripts.sha256');
      expect([readFileSync(digests, 'utf8'), mode(digests)]).toEqual([vmScriptDigests(), '644']);
      expect(existsSync(join(root, LIB, 'vm-scripts'))).toBe(false);
      const sent = Object.fromEntries(VM_SCRIPT_NAMES.map((name) => [name, createHash('sha256').update(vmScriptText(name)).digest('hex')]));
      expect(agentConfig(root)).toMatchObject({
        steps: { listen_host: '10.0.0.4', listen_port: 8433, key_file: key, script_digests: sent },
      });
      const env = readFileSync(join(root, 'etc/pg-failover/node-agent.env'), 'utf8');
      expect(env).toContain('PGFO_STEPS_KEY_FILE=/run/credentials/pg-failover-node-agent.service/step-key\n');
      expect(env).not.toContain(steps.key.trim());
      expect(readFileSync(join(root, 'etc/systemd/system/pg-failover-node-agent.service.d/10-steps.conf'), 'utf8')).toMatch(
        /\[Service\]\nLoadCredential=step-key:\/etc\/pg-failover\/step-key\nReadWritePaths=-\/var\/lib\/postgresql -\/etc\/postgresql\n$/,
      );

      // The rule, run as polkit runs it: yes for postgres starting or stopping that unit, nothing else.
      // polkitd's duktape takes ECMAScript 5 only: the rule must parse as such.
      const rule = readFileSync(join(root, 'etc/polkit-1/rules.d/50-pg-failover-node-agent.rules'), 'utf8');
      expect(() => parse(rule, { ecmaVersion: 5 })).not.toThrow();
      const verdict = (user: string, unit: string, verb: string, id = 'org.freedesktop.systemd1.manage-units') => {
        const rules: Array<(action: unknown, subject: unknown) => unknown> = [];
        const polkit = { Result: { YES: 'yes', NO: 'no' }, addRule: (fn: (action: unknown, subject: unknown) => unknown) => rules.push(fn) };
        runInNewContext(rule, { polkit });
        const details: Record<string, string> = { unit, verb };
        return rules.map((fn) => fn({ id, lookup: (name: string) => details[name] }, { user }) ?? 'not-mine');
      };
      expect(verdict('postgres', 'postgresql@16-main.service', 'stop')).toEqual(['yes']);
      expect(verdict('postgres', 'postgresql@16-main.service', 'start')).toEqual(['yes']);
      expect(verdict('postgres', 'postgresql@16-main.service', 'restart')).toEqual(['not-mine']);
      expect(verdict('postgres', 'ssh.service', 'stop')).toEqual(['not-mine']);
      expect(verdict('nobody', 'postgresql@16-main.service', 'stop')).toEqual(['not-mine']);
      expect(verdict('postgres', 'postgresql@16-main.service', 'stop', 'org.freedesktop.systemd1.manage-unit-files')).toEqual(['not-mine']);

      // Steps turned off again: key, rule and write access go.
      const off = await runScript('install.sh', withAgent(root));
      expect(off.results).toEqual([expect.objectContaining({ outcome: 'installed', changed: expect.stringContaining('/etc/pg-failover/step-key') })]);
      for (const path of ['etc/pg-failover/step-key', `${LIB}/vm-scripts.sha256`, 'etc/polkit-1/rules.d/50-pg-failover-node-agent.rules', 'etc/systemd/system/pg-failover-node-agent.service.d/10-steps.conf']) expect(existsSync(join(root, path))).toBe(false);
      expect(agentConfig(root)).toMatchObject({ steps: null });
    });

    it('with --enroll-steps: a step key made here once and kept, and the enrollment unit handed the certificate and the key as credentials', async () => {
      const root = newRoot();
      const { selfSigned } = certificates();
      const enrolling = withAgent(root, ['--steps-port', '8433', '--steps-tls-cert', selfSigned.cert, '--steps-tls-key', selfSigned.key, '--enroll-steps']);
      const first = await runScript('install.sh', enrolling);
      const second = await runScript('install.sh', enrolling);

      expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
      expect(second.results).toEqual([expect.objectContaining({ outcome: 'unchanged', changed: '' })]);
      const keyFile = join(root, 'etc/pg-failover/step-key');
      const key = readFileSync(keyFile, 'utf8');
      expect(mode(keyFile)).toBe('600');
      expect(Buffer.from(key.trim(), 'base64')).toHaveLength(32);
      expect(first.stdout + first.stderr).not.toContain(key.trim());
      expect(agentConfig(root)).toMatchObject({ steps: { listen_port: 8433, key_file: keyFile } });
      expect(mode(join(root, LIB, 'step-enrollment.sh'))).toBe('755');
      const unit = readFileSync(join(root, 'etc/systemd/system/pg-failover-step-enrollment.service'), 'utf8');
      expect(unit).toBe(readFileSync(join(AGENT_DIR, 'systemd/pg-failover-step-enrollment.service'), 'utf8'));
      expect(unit).toContain('LoadCredential=step-key:/etc/pg-failover/step-key\n');
      expect(readFileSync(join(root, 'etc/systemd/system/pg-failover-step-enrollment.service.d/10-certificate.conf'), 'utf8')).toMatch(new RegExp(`\\[Service\\]\\nLoadCredential=steps\\.crt:${selfSigned.cert.replaceAll('.', '\\.')}\\n$`));

      // Enrollment off (the key given instead): the given key replaces the made one, the unit goes.
      const steps = stepFiles();
      const given = await runScript('install.sh', withAgent(root, steps.options));
      expect(given.code).toBe(0);
      expect(readFileSync(keyFile, 'utf8')).toBe(steps.key);
      for (const path of [`${LIB}/step-enrollment.sh`, 'etc/systemd/system/pg-failover-step-enrollment.service', 'etc/systemd/system/pg-failover-step-enrollment.service.d/10-certificate.conf']) expect(existsSync(join(root, path))).toBe(false);
    });

    it.each([
      ['--enroll-steps with --steps-key-file', (root: string) => withAgent(root, [...stepFiles().options, '--enroll-steps']), /--steps-key-file and --enroll-steps exclude each other/],
      ['--enroll-steps without --steps-port', (root: string) => withAgent(root, ['--enroll-steps']), /--enroll-steps go with --steps-port/],
      ['--enroll-steps with a certificate from a CA', (root: string) => {
        const { issued } = certificates();
        return withAgent(root, ['--steps-port', '8433', '--steps-tls-cert', issued.cert, '--steps-tls-key', issued.key, '--enroll-steps']);
      }, /must be self-signed \(it is issued by CN=cluster-ca\); with a certificate from the cluster's CA give --steps-key-file instead/],
      ['--enroll-steps with an expired certificate', (root: string) => {
        const { expired } = certificates();
        return withAgent(root, ['--steps-port', '8433', '--steps-tls-cert', expired.cert, '--steps-tls-key', expired.key, '--enroll-steps']);
      }, /--steps-tls-cert has expired/],
      ['--enroll-steps with a key for a certificate', (root: string) => {
        const { selfSigned } = certificates();
        return withAgent(root, ['--steps-port', '8433', '--steps-tls-cert', selfSigned.key, '--steps-tls-key', selfSigned.key, '--enroll-steps']);
      }, /--steps-tls-cert must be a PEM certificate/],
      ['--peers without --node-address', (root: string) => [...args(root), '--app-resource', RESOURCE, '--peers', 'pg2=10.0.0.5:8432'], /give --node-address too/],
      ['a peer that is this node', (root: string) => withAgent(root).map((a) => (a.startsWith('pg2=') ? 'pg1=10.0.0.5:8432' : a)), /--peers must list the OTHER nodes' agents as NAME=HOST:PORT/],
      ['a peer without a port', (root: string) => withAgent(root).map((a) => (a.startsWith('pg2=') ? 'pg2=10.0.0.5' : a)), /'pg2=10.0.0.5' is not one/],
      ['a bad probe port', (root: string) => withAgent(root, ['--probe-port', '70000']), /--probe-port must be a port/],
      ['steps on the probe port', (root: string) => withAgent(root, [...stepFiles().options.slice(2), '--steps-port', '8432']), /--steps-port must be a port, 1-65535, other than --probe-port/],
      ['steps without the key file', (root: string) => withAgent(root, stepFiles().options.slice(0, 6)), /--steps-key-file must be a readable file/],
      ['a short step key', (root: string) => {
        const options = stepFiles().options;
        writeFileSync(options[7], `${randomBytes(16).toString('base64')}\n`);
        return withAgent(root, options);
      }, /base64 of at least 32 random bytes/],
      ['a key file without --steps-port', (root: string) => withAgent(root, stepFiles().options.slice(6)), /go with --steps-port/],
    ])('refuses %s, naming the option, and writes nothing', async (_name, build, message) => {
      const root = newRoot();
      const run = await runScript('install.sh', build(root));
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(readdirSync(root)).toEqual([]);
    });
  });
});
