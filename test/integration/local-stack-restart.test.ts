import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../harness/lab/lab';
import { LocalStack, startLocalStack } from '../../harness/local/stack';
import { waitFor } from '../../harness/util/wait';
import { testLabOptions } from '../support/lab';
import { switchoverAndWait } from '../support/operations';
import { TEST_FUNCTION_KEY } from '../support/stack';

/**
 * The local stack comes back on its state as Azure would: a VM Azure holds powered off stays off
 * (the lab does not start its PostgreSQL), and the runtime's operations belong to the lab they
 * ran on — a lab built anew in the same place does not inherit them.
 */
describe('local stack restarted on its state', () => {
  const block = '20.9';
  const lab = testLabOptions(block);
  const stateDir = mkdtempSync(join(tmpdir(), 'pgfo-stack-'));
  const start = () =>
    startLocalStack({ stateDir, lab, listen: { host: `127.${block}.1`, port: 7071 }, functionKey: TEST_FUNCTION_KEY, policy: { fenceByPowerOff: false }, log: () => undefined });
  let stack: LocalStack | undefined;

  afterAll(async () => {
    await stack?.stop();
    await Lab.down(lab);
  });

  it('keeps a powered-off VM off, and its PostgreSQL stopped, until the VM is started', async () => {
    stack = await start();
    stack.azure.control.setPowerState('pg3', 'stopped');
    const pg3 = stack.lab.server('pg3');
    await waitFor('pg3 to lose power', async () => !(await pg3.isRunning()), { timeoutMs: 30_000, intervalMs: 100 });
    await stack.stop({ keepLab: true });

    stack = await start();
    expect(stack.azure.control.powerState('pg3')).toBe('stopped');
    expect(await stack.lab.server('pg3').isRunning()).toBe(false);
    stack.azure.control.setPowerState('pg3', 'running');
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role])).toEqual([
      ['pg1', 'primary'],
      ['pg2', 'standby'],
      ['pg3', 'standby'],
    ]);
  });

  it('does not hand a new lab the operations of the old one', async () => {
    const report = await switchoverAndWait(stack!, { target: 'pg2' });
    expect(report.outcome).toBe('completed');
    expect(stack!.runtime.listInstances().length).toBeGreaterThan(0);
    await stack!.stop({ keepLab: true });
    stack = await start();
    expect(stack.runtime.listInstances().length).toBeGreaterThan(0); // the same lab: its history stays

    await stack.stop();
    stack = await start();
    expect(stack.runtime.listInstances()).toEqual([]);
  });
});
