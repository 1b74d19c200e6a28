import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStack } from '../../../harness/local/stack';
import { HealthState, monitorInstanceId } from '../../../src/domain/health';
import { OperationInput, OperationReport } from '../../../src/domain/operation';
import type { VmPowerEventOutcome } from '../../../src/functions/event-grid-vm-power';
import { api, startTestStack } from '../../support/stack';
import { vmActionCloudEvent, vmActionEventGridSchema } from '../../unit/agent/event-grid-payloads';

/**
 * The Event Grid trigger, invoked by the local runtime the way the host invokes it, with
 * ResourceActionSuccess deliveries shaped like Azure's, while the emulator has really powered the
 * VM off (its lab node's PostgreSQL is killed).
 */
describe('Event Grid: VM power actions start recovery', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('50.3');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const vmId = (node: string) => stack.cluster.nodes.find((n) => n.name === node)!.vmResourceId;
  const deliver = async (event: Record<string, unknown>) => (await stack.runtime.invokeFunction('vmPowerEvents', event)) as VmPowerEventOutcome;
  const operations = () => stack.runtime.listInstances().filter((i) => i.name === 'failover' || i.name === 'switchover');
  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }
  const roleOf = async (node: string) => (await stack.lab.status()).nodes.find((n) => n.name === node)!.role;

  it('is registered as an Event Grid trigger with a durable client', () => {
    const fn = stack.runtime.functions().find((f) => f.name === 'vmPowerEvents');
    expect(fn).toMatchObject({ kind: 'eventGrid' });
  });

  it('ignores events that do not take a VM down, and VMs it does not manage (with a log)', async () => {
    expect(await deliver(vmActionEventGridSchema(vmId('pg2'), 'start'))).toMatchObject({ outcome: 'not-relevant', detail: expect.stringContaining('does not take a VM down') });
    const stranger = vmId('pg2').replace(/virtualMachines\/pg2$/, 'virtualMachines/build-agent-7');
    expect(await deliver(vmActionEventGridSchema(stranger, 'powerOff'))).toMatchObject({
      component: 'vm-power-events',
      outcome: 'unknown-vm',
      vm: stranger,
      detail: expect.stringContaining('no node of any configured cluster'),
    });
    expect(operations()).toEqual([]);
  });

  it('a standby powered off leaves the read pool; a restart that is already over changes nothing', async () => {
    stack.azure.control.setPowerState('pg3', 'stopped');
    await until('pg3 to be down', async () => ((await roleOf('pg3')) === 'down' ? true : undefined));

    const outcome = await deliver(vmActionEventGridSchema(vmId('pg3'), 'powerOff', '5d1c8e2a-0b7f-4a3e-9c6d-1e2f3a4b5c6d'));

    expect(outcome).toMatchObject({ outcome: 'removed-from-pools', cluster: 'lab', node: 'pg3' });
    expect((await stack.lab.status()).ilb.readPool).not.toContain('pg3');
    expect(operations()).toEqual([]);

    // pg2 restarted and streams again by the time the event is handled.
    expect(await deliver(vmActionEventGridSchema(vmId('pg2'), 'restart', '6e2d9f3b-1c8a-4b4f-8d7e-2f3a4b5c6d7e'))).toMatchObject({
      outcome: 'ignored',
      detail: expect.stringContaining('streaming'),
    });
  });

  /** One run of the health check timer (issue 7), taken in by the cluster monitor: it records the primary's WAL position, which bounds a failover's loss (docs/invariants.md S7). */
  async function healthCheck(): Promise<void> {
    const observations = () => {
      const state = stack.runtime.getInstance(monitorInstanceId('lab'))?.customStatus;
      return state ? (JSON.parse(state) as HealthState).observations : 0;
    };
    const before = observations();
    await stack.runtime.invokeTimer('healthCheck');
    await stack.runtime.waitForInstance(monitorInstanceId('lab'), { timeoutMs: 60_000, until: () => observations() > before });
  }

  it('the primary powered off (CloudEvents delivery): a failover through the gate; a redelivery starts nothing', async () => {
    await healthCheck();
    stack.azure.control.setPowerState('pg1', 'stopped');
    await until('pg1 to be down', async () => ((await roleOf('pg1')) === 'down' ? true : undefined));
    const event = vmActionCloudEvent(vmId('pg1'), 'powerOff');

    const outcome = await deliver(event);

    expect(outcome).toMatchObject({ outcome: 'failover-started', node: 'pg1', operationId: expect.stringMatching(/^lab-failover-vm-event-/) });
    const started = stack.runtime.getInstance(outcome.operationId ?? '');
    const input = JSON.parse(started!.input!) as OperationInput<{ reason: string; requireDeadPrimary?: boolean }>;
    expect(input).toMatchObject({ kind: 'failover', operationId: outcome.operationId, request: { reason: expect.stringMatching(/^VM pg1 powered off/), requireDeadPrimary: true } });
    expect(await deliver(event)).toMatchObject({ outcome: expect.stringMatching(/^(already-handled|failover-not-started)$/), operationId: outcome.operationId });

    await stack.runtime.waitForInstance(outcome.operationId ?? '', { timeoutMs: 180_000 });
    const { body } = await api(stack, 'GET', `clusters/lab/operations/${outcome.operationId}`);
    const report = body as unknown as OperationReport;
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
    expect(['pg2', 'pg3']).toContain(report.newPrimary);
    const status = await stack.lab.status();
    expect(status.ilb.writePool).toEqual([report.newPrimary]);
    expect(status.nodes.find((n) => n.role === 'primary')!.name).toBe(report.newPrimary);

    // Event Grid delivers at least once: the same event later finds its operation.
    expect(await deliver(event)).toMatchObject({ outcome: 'already-handled', operationId: outcome.operationId });
    expect(operations().filter((i) => i.name === 'failover')).toHaveLength(1);
  });

  it('in maintenance mode a primary that goes away is not failed over automatically', async () => {
    const primary = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    const paused = await api(stack, 'POST', 'clusters/lab/maintenance', { enabled: true, reason: 'OS patching' });
    expect(paused.status).toBe(200);
    stack.azure.control.setPowerState(primary, 'deallocated');
    await until(`${primary} to be down`, async () => ((await roleOf(primary)) === 'down' ? true : undefined));

    const outcome = await deliver(vmActionEventGridSchema(vmId(primary), 'deallocate', '7f3e0a4c-2d9b-4c5a-9e8f-3a4b5c6d7e8f'));

    expect(outcome).toMatchObject({ outcome: 'maintenance-mode', node: primary, detail: expect.stringContaining('OS patching') });
    expect(operations().filter((i) => i.name === 'failover')).toHaveLength(1);
  });
});
