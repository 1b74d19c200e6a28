import { createHash } from 'node:crypto';
import { AzureVmCommands } from '../../../src/adapters/azure/vm-commands';
import { InvalidInputError } from '../../../src/domain/errors';
import { SecretValue } from '../../../src/domain/secret-value';
import { SecretExposureRefusedError, VmCommandRunNotFoundError, VmScriptFailedError } from '../../../src/ports/errors';
import type { VmCommandProgress, VmCommandRun } from '../../../src/ports/vm-commands';
import { createBashExecutor, type GuestExecutor } from '../../../harness/local/azure-emulator';
import { ADMIN_PASSWORD, gate, type Harness, REPLICATION_PASSWORD, startHarness, testCluster, waitFor } from './harness';

const ok = (json = '{"ok":true}') => `printf 'PGFO_RESULT %s\\n' '${json}'`;

/**
 * Long scripts through the real compute SDK against the local Azure (docs/azure-platform.md item
 * 4): started as managed Run Commands with asyncExecution, then looked at until they end.
 */
describe('VM commands started asynchronously and polled', () => {
  let h: Harness;
  let vm: AzureVmCommands;
  const logged: string[] = [];
  const held = new Map<string, { promise: Promise<void>; open: () => void }>();
  const bash = createBashExecutor();
  // A script whose text names a held gate ("# hold <key>") stays "running" until the test opens it.
  const executor: GuestExecutor = async (target, script, env, options) => {
    const key = /^# hold (\S+)$/m.exec(script)?.[1];
    if (key) await held.get(key)?.promise;
    return bash(target, script, env, options);
  };
  const hold = (key: string) => {
    const g = gate();
    held.set(key, g);
    return g;
  };

  beforeAll(async () => {
    h = await startHarness(testCluster('nic'), { executor });
    const log = (level: string) => (event: string, fields?: Record<string, unknown>) => logged.push(`${level} ${event} ${JSON.stringify(fields ?? {})}`);
    vm = new AzureVmCommands(h.clients, { ...h.options, log: { info: log('info'), warn: log('warn') } });
  });
  afterAll(() => {
    for (const g of held.values()) g.open();
    return h.emulator.stop();
  });
  const pg1 = () => h.cluster.nodes[0];
  const executionsOf = (runName: string) => h.emulator.record.executions.filter((e) => e.runCommandName === runName);
  const deletesOf = (runName: string) => h.emulator.record.requests.filter((r) => r.method === 'DELETE' && r.url.includes(`/runCommands/${runName}?`));
  async function runNames(node = 'pg1'): Promise<string[]> {
    const names: string[] = [];
    for await (const rc of h.clients.compute(pg1().vmResourceId.split('/')[2]).virtualMachineRunCommands.listByVirtualMachine('pg-rg', node)) names.push(rc.name ?? '');
    return names;
  }
  async function pollUntilDone(run: VmCommandRun): Promise<Extract<VmCommandProgress, { done: true }>> {
    for (;;) {
      const progress = await vm.poll(pg1(), run);
      if (progress.done) return progress;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  test('start returns while the script runs; polls say Running, then the judged result; the run is deleted once read', async () => {
    const g = hold('a');
    const run = await vm.start(pg1(), { script: { name: 'long', text: `# hold a\necho working\n${ok('{"ok":true,"method":"pg_basebackup"}')}` }, timeoutSeconds: 600, runName: 'pgfo-test-running-done' });
    expect(run).toEqual({ vm: 'pg1', script: 'long', runName: 'pgfo-test-running-done', timeoutSeconds: 600 });
    // The PUT asked for asyncExecution and returned while the script is held.
    expect(executionsOf(run.runName)).toMatchObject([{ kind: 'managed', state: 'running' }]);
    await expect(vm.poll(pg1(), run)).resolves.toEqual({ done: false, executionState: 'Running' });
    await expect(vm.poll(pg1(), run)).resolves.toEqual({ done: false, executionState: 'Running' });
    expect(deletesOf(run.runName)).toHaveLength(0);

    g.open();
    const done = await pollUntilDone(run);
    expect(done.outcome).toMatchObject({ via: 'managed', exitCode: 0, result: { ok: true, method: 'pg_basebackup' } });
    expect(done.outcome.stdoutTail).toContain('working');
    expect(deletesOf(run.runName)).toHaveLength(1);
    expect(await runNames()).toEqual([]);
    // Read once: a later look finds nothing, and says so.
    await expect(vm.poll(pg1(), run)).rejects.toThrow(VmCommandRunNotFoundError);
  });

  test('a failing script is a VmScriptFailedError naming script, VM and step, with exit code and stderr; its run is deleted too', async () => {
    const run = await vm.start(pg1(), {
      script: { name: 'rejoin', text: `echo "pg_basebackup: could not connect" >&2\nprintf 'PGFO_RESULT %s\\n' '{"ok":false,"step":"pg_basebackup","error":"could not connect"}'\nexit 3` },
      timeoutSeconds: 600,
      runName: 'pgfo-test-failing',
    });
    const error = await pollUntilDone(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmScriptFailedError);
    const failure = error as VmScriptFailedError;
    expect(failure.message).toMatch(/Script rejoin failed on pg1: it reported ok:false \(could not connect\)/);
    expect(failure.exitCode).toBe(3);
    expect(failure.stderrTail).toContain('could not connect');
    expect(failure.context).toMatchObject({ cluster: 'orders', node: 'pg1', step: 'rejoin' });
    expect(deletesOf(run.runName)).toHaveLength(1);
    expect(await runNames()).toEqual([]);
  });

  test('a script past its own timeout ends TimedOut: a failure that says so', async () => {
    const run = await vm.start(pg1(), { script: { name: 'hangs', text: `echo waiting >&2\nsleep 600\n${ok()}` }, timeoutSeconds: 1, runName: 'pgfo-test-timeout' });
    const error = await pollUntilDone(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmScriptFailedError);
    expect((error as Error).message).toMatch(/timed out/);
    expect((error as VmScriptFailedError).stderrTail).toContain('waiting');
  });

  test('the same run name twice (a retried start, even two at once) starts one script', async () => {
    const g = hold('b');
    const request = { script: { name: 'once', text: `# hold b\necho "ran at $(date +%s%N)"\n${ok()}` }, timeoutSeconds: 600, runName: 'pgfo-test-once' };
    // Two at once (both may find no run yet and PUT the identical request), then one more.
    const [first, second] = await Promise.all([vm.start(pg1(), request), vm.start(pg1(), request)]);
    const again = await vm.start(pg1(), request);
    expect([second, again]).toEqual([first, first]);
    expect(executionsOf('pgfo-test-once')).toHaveLength(1);
    g.open();
    await expect(pollUntilDone(first)).resolves.toMatchObject({ outcome: { result: { ok: true } } });
    expect(executionsOf('pgfo-test-once')).toHaveLength(1);
  });

  test('secrets travel only as protected parameters: never in the emulator record, the run command resource or the adapter log', async () => {
    const run = await vm.start(pg1(), {
      script: { name: 'use-passwords', text: ['set -euo pipefail', 'echo "sha=$(printf %s "$PGFO_ADMIN_PASSWORD" | sha256sum | cut -c1-64) node=$PGFO_NODE_NAME"', ok()].join('\n') },
      parameters: { PGFO_NODE_NAME: 'pg1' },
      secrets: { PGFO_ADMIN_PASSWORD: new SecretValue('pg-admin-password', ADMIN_PASSWORD), PGFO_REPLICATION_PASSWORD: new SecretValue('pg-replication-password', REPLICATION_PASSWORD) },
      timeoutSeconds: 600,
      runName: 'pgfo-test-secrets',
    });
    const resource = await h.clients.compute(pg1().vmResourceId.split('/')[2]).virtualMachineRunCommands.getByVirtualMachine('pg-rg', 'pg1', run.runName, { expand: 'instanceView' });
    const done = await pollUntilDone(run);
    // The script got the exact value (compared by hash so no output shows it).
    expect(done.outcome.stdoutTail).toContain(`sha=${createHash('sha256').update(ADMIN_PASSWORD).digest('hex')} node=pg1`);
    expect(executionsOf(run.runName)).toMatchObject([{ parameters: [{ name: 'PGFO_NODE_NAME', value: 'pg1' }], protectedParameterNames: ['PGFO_ADMIN_PASSWORD', 'PGFO_REPLICATION_PASSWORD'] }]);
    for (const text of [JSON.stringify(h.emulator.record), JSON.stringify(resource), logged.join('\n')]) {
      expect(text).not.toContain(ADMIN_PASSWORD);
      expect(text).not.toContain(REPLICATION_PASSWORD);
    }
    expect(logged.some((line) => line.includes('vm-command.start') && line.includes('PGFO_ADMIN_PASSWORD') && line.includes(run.runName))).toBe(true);
  });

  test('refused before any call: a secret in visible places, a bad run name', async () => {
    const before = h.emulator.record.requests.length;
    const secret = new SecretValue('pg-admin-password', ADMIN_PASSWORD);
    await expect(vm.start(pg1(), { script: { name: 'leaky', text: ok() }, parameters: { PW: ADMIN_PASSWORD }, secrets: { PGPASSWORD: secret }, timeoutSeconds: 60, runName: 'pgfo-leaky' })).rejects.toThrow(SecretExposureRefusedError);
    await expect(vm.start(pg1(), { script: { name: 'x', text: ok() }, timeoutSeconds: 60, runName: 'bad name/../x' })).rejects.toThrow(InvalidInputError);
    await expect(vm.start(pg1(), { script: { name: 'x', text: ok() }, timeoutSeconds: 60, runName: 'x'.repeat(81) })).rejects.toThrow(InvalidInputError);
    expect(h.emulator.record.requests.length).toBe(before);
  });

  test('like Azure, the instance view shows the end only once the agent has reported it', async () => {
    const slow = await startHarness(testCluster('nic'), { latency: { managedRunCommand: { dispatchMs: 0, reportMs: 400 } } });
    try {
      const slowVm = new AzureVmCommands(slow.clients, slow.options);
      const run = await slowVm.start(slow.cluster.nodes[0], { script: { name: 'quick', text: ok() }, timeoutSeconds: 60, runName: 'pgfo-test-report' });
      await waitFor('the script to finish on the guest', () => slow.emulator.record.executions.some((e) => e.runCommandName === run.runName && e.state === 'finished'));
      await expect(slowVm.poll(slow.cluster.nodes[0], run)).resolves.toEqual({ done: false, executionState: 'Running' });
      let progress: VmCommandProgress;
      do progress = await slowVm.poll(slow.cluster.nodes[0], run);
      while (!progress.done);
      expect(progress.outcome.result).toEqual({ ok: true });
    } finally {
      await slow.emulator.stop();
    }
  });

  test('a VM keeps 25 managed runs at most: abandoned runs of ours (ended, unread for an hour) are deleted before the next start, nothing else is', async () => {
    const pg2 = h.cluster.nodes[1];
    const compute = h.clients.compute(pg2.vmResourceId.split('/')[2]).virtualMachineRunCommands;
    // Someone else's run on the VM, and 24 of ours that ended but were never read (given up on).
    await compute.createOrUpdate('pg-rg', 'pg2', 'operator-inventory', { location: 'westeurope', source: { script: 'true' }, asyncExecution: true });
    for (let i = 0; i < 24; i++) await vm.start(pg2, { script: { name: 'left', text: ok() }, timeoutSeconds: 60, runName: `pgfo-left-${i}` });
    await waitFor('the 25 runs to end', () => h.emulator.record.executions.filter((e) => /^(operator-inventory|pgfo-left-\d+)$/.test(e.runCommandName ?? '') && e.state === 'finished').length === 25);

    // Just ended: nothing is abandoned yet, so the VM is full and refuses a 26th, as Azure does.
    await expect(vm.start(pg2, { script: { name: 'next', text: ok() }, timeoutSeconds: 60, runName: 'pgfo-next' })).rejects.toThrow(/maximum of 25/);

    // An hour later they are abandoned: the next start deletes them and goes ahead.
    const later = new AzureVmCommands(h.clients, { ...h.options, clock: { now: () => Date.now() + 2 * 60 * 60_000, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) } });
    const run = await later.start(pg2, { script: { name: 'next', text: ok() }, timeoutSeconds: 60, runName: 'pgfo-next' });
    expect(run.runName).toBe('pgfo-next');
    expect((await runNames('pg2')).sort()).toEqual(['operator-inventory', 'pgfo-next']);
  });
});
