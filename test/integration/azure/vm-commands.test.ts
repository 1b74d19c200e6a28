import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { AzureVmCommands } from '../../../src/adapters/azure/vm-commands';
import { InvalidInputError } from '../../../src/domain/errors';
import { SecretValue } from '../../../src/domain/secret-value';
import { SecretExposureRefusedError, VmCommandError, VmCommandUnansweredError, VmScriptFailedError } from '../../../src/ports/errors';
import { createBashExecutor, type GuestExecutor } from '../../../harness/local/azure-emulator';
import { waitFor as waitUntil } from '../../../harness/util/wait';
import { ADMIN_PASSWORD, gate, type Harness, startHarness, SUBSCRIPTION, testCluster, waitFor } from './harness';

const ok = (json = '{"ok":true}') => `printf 'PGFO_RESULT %s\\n' '${json}'`;

describe('VM commands through the real compute SDK against the local Azure', () => {
  let h: Harness;
  let vm: AzureVmCommands;
  let held: { promise: Promise<void>; open: () => void } | undefined;
  const bash = createBashExecutor();
  // Scripts run for real (bash); a test can hold one "running" with `held`.
  const executor: GuestExecutor = async (target, script, env, options) => {
    if (held && script.includes('# hold')) await held.promise;
    return bash(target, script, env, options);
  };

  beforeAll(async () => {
    h = await startHarness(testCluster('nic'), { executor });
    vm = new AzureVmCommands(h.clients, h.options);
  });
  afterAll(() => h.emulator.stop());
  const pg1 = () => h.cluster.nodes[0];
  const pg2 = () => h.cluster.nodes[1];

  test('action Run Command: parameters arrive as environment variables and positional arguments; the result is parsed', async () => {
    const outcome = await vm.run(pg1(), {
      script: { name: 'echo-params', text: ['set -euo pipefail', 'echo "node=$NODE lsn=$LSN args=$1,$2"', ok('{"ok":true,"lsn":"0/3000060"}')].join('\n') },
      parameters: { NODE: 'pg1', LSN: '0/3000060' },
    });
    expect(outcome).toMatchObject({ via: 'action', exitCode: undefined, result: { ok: true, lsn: '0/3000060' } });
    expect(outcome.stdoutTail).toContain('node=pg1 lsn=0/3000060 args=pg1,0/3000060');
  });

  test('managed Run Command with secrets: only protected parameters carry them, the run is deleted afterwards', async () => {
    const secret = new SecretValue('pg-admin-password', ADMIN_PASSWORD);
    const outcome = await vm.runWithSecrets(pg1(), {
      script: { name: 'use-password', text: ['set -euo pipefail', 'echo "sha=$(printf %s "$PGPASSWORD" | sha256sum | cut -c1-64) user=$PGUSER"', ok()].join('\n') },
      parameters: { PGUSER: 'postgres', PGPORT: '5432' },
      secrets: { PGPASSWORD: secret },
    });
    expect(outcome).toMatchObject({ via: 'managed', exitCode: 0, result: { ok: true } });
    // The script got the exact value (compared by hash so the test output never shows it).
    expect(outcome.stdoutTail).toContain(`sha=${createHash('sha256').update(ADMIN_PASSWORD).digest('hex')} user=postgres`);

    const execution = h.emulator.record.executions.find((e) => e.kind === 'managed' && e.protectedParameterNames.includes('PGPASSWORD'));
    expect(execution?.parameters.map((p) => p.name).sort()).toEqual(['PGPORT', 'PGUSER']);
    expect(JSON.stringify(h.emulator.record)).not.toContain(ADMIN_PASSWORD);
    // The managed run command resource is gone (a VM keeps at most 25).
    const deletes = h.emulator.record.requests.filter((r) => r.method === 'DELETE' && r.url.includes(`/runCommands/${execution?.runCommandName}`));
    expect(deletes).toHaveLength(1);
    const leftovers = await h.clients.compute(pg1().vmResourceId.split('/')[2]).virtualMachineRunCommands.listByVirtualMachine('pg-rg', 'pg1');
    const names: string[] = [];
    for await (const rc of leftovers) names.push(rc.name ?? '');
    expect(names).toEqual([]);
  });

  test('a script that dies before its result line fails with the stderr tail (action: no exit code to go by)', async () => {
    const error = await vm.run(pg1(), { script: { name: 'dies', text: 'set -euo pipefail\necho starting\necho "pg_ctl: could not find PID file" >&2\nfalse\n' + ok() } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmScriptFailedError);
    const failure = error as VmScriptFailedError;
    expect(failure.vm).toBe('pg1');
    expect(failure.message).toMatch(/no PGFO_RESULT/);
    expect(failure.stderrTail).toContain('could not find PID file');
    expect(failure.exitCode).toBeUndefined();
    expect(failure.context).toMatchObject({ cluster: 'orders', node: 'pg1', step: 'dies' });
  });

  test('ok:false is a failure carrying the script result', async () => {
    const error = await vm.run(pg1(), { script: { name: 'refuses', text: ok('{"ok":false,"error":"not a standby"}') } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmScriptFailedError);
    expect((error as VmScriptFailedError).result).toEqual({ ok: false, error: 'not a standby' });
    expect((error as Error).message).toMatch(/not a standby/);
  });

  test('managed Run Command: a non-zero exit code fails even after an ok line', async () => {
    const error = await vm.run(pg1(), { via: 'managed', script: { name: 'exit-7', text: `${ok()}\nexit 7` } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmScriptFailedError);
    expect((error as VmScriptFailedError).exitCode).toBe(7);
  });

  test('managed Run Command: timeoutSeconds ends a hung script, reported as a failure', async () => {
    const error = await vm.run(pg1(), { via: 'managed', timeoutSeconds: 1, script: { name: 'hangs', text: `echo waiting >&2\nsleep 600\n${ok()}` } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmScriptFailedError);
    expect((error as Error).message).toMatch(/timed out/);
    expect((error as VmScriptFailedError).stderrTail).toContain('waiting');
  });

  test('output longer than the 4096-byte tail: the last-line marker is still found', async () => {
    const outcome = await vm.run(pg1(), { script: { name: 'chatty', text: `for i in $(seq 1 2000); do echo "progress line $i"; done\nfor i in $(seq 1 500); do echo "warn $i" >&2; done\n${ok('{"ok":true,"lines":2000}')}` } });
    expect(outcome.result).toEqual({ ok: true, lines: 2000 });
    expect(Buffer.byteLength(outcome.stdoutTail)).toBe(4096);
    expect(outcome.stdoutTail).not.toContain('progress line 1\n');
  });

  test('409 while another Run Command runs: the adapter waits and retries, for either API', async () => {
    for (const via of ['action', 'managed'] as const) {
      held = gate();
      const slow = vm.run(pg1(), { via, script: { name: 'slow', text: `# hold\n${ok('{"ok":true,"who":"slow"}')}` } });
      await waitFor('the slow script to start', () => h.emulator.record.executions.some((e) => e.scriptText.startsWith('# hold') && e.state === 'running'));
      const conflictsBefore = h.emulator.record.requests.filter((r) => r.status === 409).length;
      const second = vm.run(pg1(), { via, script: { name: 'second', text: ok('{"ok":true,"who":"second"}') } });
      await waitFor('the second call to be refused with 409 at least twice', () => h.emulator.record.requests.filter((r) => r.status === 409).length >= conflictsBefore + 2);
      held.open();
      await expect(slow).resolves.toMatchObject({ result: { who: 'slow' } });
      await expect(second).resolves.toMatchObject({ result: { who: 'second' } });
      held = undefined;
    }
  });

  test('long-running operation: the SDK polls Azure-AsyncOperation while the script runs', async () => {
    held = gate();
    const run = vm.run(pg1(), { script: { name: 'polled', text: `# hold\n${ok()}` } });
    const statusPolls = () => h.emulator.record.requests.filter((r) => r.method === 'GET' && /\/operations\//.test(r.url)).length;
    const before = statusPolls();
    await waitFor('three status polls while the script is held', () => statusPolls() >= before + 3);
    held.open();
    held = undefined;
    await expect(run).resolves.toMatchObject({ result: { ok: true } });
    expect(h.emulator.record.requests.some((r) => /\/operationResults\//.test(r.url) && r.status === 200)).toBe(true);
  });

  test('answerWithinSeconds: an action run no guest agent takes up is given up on with VmCommandUnansweredError, and the VM stays busy with it as on Azure', async () => {
    held = gate();
    const unanswered = vm.run(pg1(), { script: { name: 'unanswered', text: `# hold\n${ok()}` }, answerWithinSeconds: 1 });
    await expect(unanswered).rejects.toThrow(VmCommandUnansweredError);
    await expect(unanswered).rejects.toThrow(/did not end within 1 s: its VM's guest agent may be gone/);
    // Given up on, not ended: another run now waits for it (409), then runs once it ends.
    const next = vm.run(pg1(), { script: { name: 'next', text: ok('{"ok":true,"who":"next"}') }, answerWithinSeconds: 60 });
    const conflictsBefore = h.emulator.record.requests.filter((r) => r.status === 409).length;
    await waitFor('the next run to be refused with 409', () => h.emulator.record.requests.filter((r) => r.status === 409).length > conflictsBefore);
    held.open();
    held = undefined;
    await expect(next).resolves.toMatchObject({ result: { who: 'next' } });
  });

  test('secrets cannot ride along in plain parameters or script text', async () => {
    const secret = new SecretValue('pg-admin-password', ADMIN_PASSWORD);
    const before = h.emulator.record.requests.length;
    await expect(vm.runWithSecrets(pg1(), { script: { name: 'leaky', text: ok() }, parameters: { PW: ADMIN_PASSWORD }, secrets: { PGPASSWORD: secret } })).rejects.toThrow(SecretExposureRefusedError);
    await expect(vm.runWithSecrets(pg1(), { script: { name: 'leaky-text', text: `PW=${ADMIN_PASSWORD}\n${ok()}` }, secrets: { PGPASSWORD: secret } })).rejects.toThrow(SecretExposureRefusedError);
    expect(h.emulator.record.requests.length).toBe(before);
  });

  test('values that action Run Command may not pass intact, and bad names, are refused before any call', async () => {
    await expect(vm.run(pg1(), { script: { name: 'x', text: ok() }, parameters: { CONNINFO: 'host=10.0.1.12 port=5432' } })).rejects.toThrow(/via: 'managed'/);
    await expect(vm.run(pg1(), { script: { name: 'x', text: ok() }, parameters: { 'not-a-name': 'v' } })).rejects.toThrow(InvalidInputError);
    const outcome = await vm.run(pg1(), { via: 'managed', script: { name: 'conninfo', text: `echo "[$CONNINFO]"\n${ok()}` }, parameters: { CONNINFO: "host=10.0.1.12 port=5432 application_name='pg2'" } });
    expect(outcome.stdoutTail).toContain("[host=10.0.1.12 port=5432 application_name='pg2']");
  });

  test('a Run Command on a stopped VM is refused at once, not retried as busy', async () => {
    h.emulator.control.setPowerState('pg3', 'stopped');
    try {
      const before = h.emulator.record.requests.filter((r) => r.status === 409).length;
      const error = await vm.run(h.cluster.nodes[2], { script: { name: 'x', text: ok() } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VmCommandError);
      expect((error as VmCommandError).message).toMatch(/pg3 .*409 OperationNotAllowed .*not allowed/);
      expect((error as VmCommandError).context).toMatchObject({ cluster: 'orders', node: 'pg3', step: 'x' });
      expect(h.emulator.record.requests.filter((r) => r.status === 409).length).toBe(before + 1);
    } finally {
      h.emulator.control.setPowerState('pg3', 'running');
    }
  });

  test('a VM powered off during a run ends the script and all it started: a failure that says so, nothing of it runs on', async () => {
    const marker = `pgfo-outlives-${process.pid}`;
    const running = vm.run(pg2(), { via: 'managed', timeoutSeconds: 600, script: { name: 'outlives', text: `echo started >&2\nbash -c 'sleep 600; true' ${marker} &\nwait\n${ok()}` } }).catch((e: unknown) => e);
    try {
      await waitUntil('the script to start its child', async () => (await processesNamed(marker)).length > 0, { timeoutMs: 60_000 });
      await h.clients.compute(SUBSCRIPTION).virtualMachines.beginPowerOffAndWait('pg-rg', 'pg2');
      const error = await running;
      expect(error).toBeInstanceOf(VmScriptFailedError);
      expect((error as VmScriptFailedError).stderrTail).toMatch(/started\n.*the VM went off during the run/s);
      await waitUntil('nothing the script started to run on', async () => (await processesNamed(marker)).length === 0, { timeoutMs: 60_000 });
    } finally {
      h.emulator.control.setPowerState('pg2', 'running');
    }
  });

  test('a run whose VM went off before the script started never starts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgfo-never-'));
    const ran = join(dir, 'ran');
    held = gate();
    const running = vm.run(pg2(), { via: 'managed', script: { name: 'too-late', text: `# hold\ntouch ${ran}\n${ok()}` } }).catch((e: unknown) => e);
    try {
      await waitFor('the run to be taken up', () => h.emulator.record.executions.some((e) => e.runCommandName !== undefined && e.scriptText.includes(ran) && e.state === 'running'));
      h.emulator.control.setPowerState('pg2', 'stopped');
      held.open();
      const error = await running;
      expect(error).toBeInstanceOf(VmScriptFailedError);
      expect((error as VmScriptFailedError).stderrTail).toContain('the VM went off during the run');
      expect(existsSync(ran)).toBe(false);
    } finally {
      held = undefined;
      rmSync(dir, { recursive: true, force: true });
      h.emulator.control.setPowerState('pg2', 'running');
    }
  });
});

/** Pids of the processes whose command line holds `text`. */
async function processesNamed(text: string): Promise<string[]> {
  try {
    return (await promisify(execFile)('pgrep', ['-f', text], { encoding: 'utf8' })).stdout.trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}
