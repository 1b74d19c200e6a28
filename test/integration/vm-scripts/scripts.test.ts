import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScriptResult } from '../../../src/domain/script-result';
import { VM_SCRIPT_NAMES, vmScriptsDir, vmScriptText } from '../../../src/vm-scripts/catalogue';
import { findSecretsInProcesses } from './support';

/** The scripts as files: syntax, shellcheck, and the shared error/result machinery of lib.sh (no lab needed). */

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
const files = readdirSync(vmScriptsDir()).filter((file) => file.endsWith('.sh'));

/** Runs lib.sh + `body` with bash, like Run Command runs a catalogue script. */
function runWithLib(body: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-lib-'));
  try {
    const file = join(dir, 'script.sh');
    writeFileSync(file, `${readFileSync(join(vmScriptsDir(), 'lib.sh'), 'utf8')}\n${body}\n`);
    const out = spawnSync('bash', [file], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    const parsed = parseScriptResult(out.stdout);
    if (parsed.kind !== 'result') throw new Error(`no result line: ${out.stdout}\n${out.stderr}`);
    return { ...out, result: parsed.result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('VM scripts as files', () => {
  it('every script in vm-scripts/ is in the catalogue', () => {
    expect(files.sort()).toEqual([...VM_SCRIPT_NAMES.map((name) => `${name}.sh`), 'lib.sh'].sort());
  });

  it.each(files)('%s passes bash -n and starts with a bash shebang and strict mode', (file) => {
    const path = join(vmScriptsDir(), file);
    execFileSync('bash', ['-n', path]);
    const text = readFileSync(path, 'utf8');
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -E?euo pipefail$/m);
  });

  it.each(VM_SCRIPT_NAMES)('the final %s text passes bash -n', (name) => {
    const result = spawnSync('bash', ['-n'], { input: vmScriptText(name), encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  (hasShellcheck ? it.each(VM_SCRIPT_NAMES) : it.skip.each(VM_SCRIPT_NAMES))('the final %s text is shellcheck clean', (name) => {
    const result = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: vmScriptText(name), encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  (hasShellcheck ? it.each(files) : it.skip.each(files))('%s on its own is shellcheck clean', (file) => {
    const result = spawnSync('shellcheck', ['-s', 'bash', join(vmScriptsDir(), file)], { encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('lib.sh: results and errors', () => {
  it('escapes any text into valid JSON without jq', () => {
    const nasty = 'quote " backslash \\ newline \n tab \t bell \u0007 unit \u001f é ✓ $(x) `y` \'z\'';
    const { result } = runWithLib(`pgfo_begin demo\nreport_ok "$(jstr text "$NASTY")" "$(jnum n 007)" "$(jnum bad x1)" "$(jbool b t)"`, { NASTY: nasty });
    expect(result).toEqual({ ok: true, script: 'demo', node: '', text: nasty, n: 7, bad: null, b: true });
  });

  it('an unexpected failure, even inside a command substitution, ends with ok:false naming the step and the command', () => {
    const run = runWithLib('pgfo_begin demo\nstep boom\necho "some output on stdout"\nvalue=$(echo partial; false)\nreport_ok');
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, script: 'demo', step: 'boom' });
    expect(String(run.result.error)).toMatch(/^"false" exited with 1 \(line \d+\)$/);
    expect(run.stdout.trim().split('\n')).toEqual(['some output on stdout', expect.stringMatching(/^PGFO_RESULT /)]);
  });

  it('fail reports its message and extra fields; a script that forgets to report is not read as success', () => {
    const failed = runWithLib('pgfo_begin demo\nstep check\npgfo_fail_fields+=("$(jstr state "in production")")\nfail "it said \\"no\\""');
    expect(failed.result).toEqual({ ok: false, script: 'demo', node: '', step: 'check', error: 'it said "no"', state: 'in production' });
    const silent = runWithLib('pgfo_begin demo\nstep quiet\ntrue');
    expect(silent.result).toMatchObject({ ok: false, step: 'quiet', error: 'the script ended without reporting a result' });
  });

  it('takes the secrets out of the environment before running anything', () => {
    const run = runWithLib('pgfo_begin demo\nreport_ok "$(jstr child "$(env | grep -c PASSWORD || true)")" "$(jbool kept "$([[ -n $pgfo_admin_password ]] && echo true || echo false)")"', {
      PGFO_ADMIN_PASSWORD: 'admin-s3cret',
      PGFO_REPLICATION_PASSWORD: 'repl-s3cret',
      PGPASSWORD: 'would-override-passfiles',
    });
    expect(run.result).toMatchObject({ ok: true, child: '0', kept: true });
    expect(run.stdout + run.stderr).not.toMatch(/s3cret/);
  });
});

describe('the leak watcher used by the lab tests', () => {
  it('finds a secret on a command line and in an environment (positive control)', async () => {
    const secret = `leak-${process.pid}-${Date.now()}`;
    const child = spawn('bash', ['-c', 'read -r _', 'leaky', `--password=${secret}`], { env: { PATH: process.env.PATH, LEAKED: secret }, stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      const found = findSecretsInProcesses([secret]);
      expect(found.leaks).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^command line of pid ${child.pid} `)), expect.stringMatching(new RegExp(`^environment of pid ${child.pid}: `))]));
    } finally {
      child.stdin.end();
      await new Promise((resolve) => child.on('close', resolve));
    }
  });
});
