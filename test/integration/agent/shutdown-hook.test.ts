import { LOCAL_NODE_AUTH_AUDIENCE, LocalStack } from '../../../harness/local/stack';
import { startScheduledEventsEmulator, ScheduledEventsEmulator } from '../../../harness/local/azure-emulator';
import { OperationReport } from '../../../src/domain/operation';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { api, startTestStack, vmIdentity } from '../../support/stack';
import { runScript, writeAgentConfig } from '../../unit/agent/support';

/**
 * The real shutdown hook (bash) run on "the primary's VM" while a client writes through the load
 * balancer: the hook returns only once the primary has moved away, then the test stops that
 * node's PostgreSQL — as systemd does right after the hook's ExecStop — and not one acknowledged
 * commit is lost.
 */
describe('shutdown hook: the primary moves away before its PostgreSQL stops', () => {
  let stack: LocalStack;
  /** The VMs' metadata service: the hook's only credential is its VM's managed identity token from it. */
  let imds: ScheduledEventsEmulator;

  beforeAll(async () => {
    stack = await startTestStack('50.2');
    imds = await startScheduledEventsEmulator({
      host: '127.50.2.1',
      vms: stack.cluster.nodes.map((n) => n.name),
      identity: { entra: stack.azure.entra, vmResourceId: (vm) => stack.cluster.nodes.find((n) => n.name === vm)!.vmResourceId },
    });
  });
  afterAll(async () => {
    await imds?.stop();
    await stack?.stop();
  });

  /** The hook on `node`'s VM; `vm` is whose metadata service (so whose identity) it asks for its token. */
  const hook = (node: string, vm = node) =>
    runScript('shutdown-hook.sh', [
      '--force',
      '--config',
      writeAgentConfig({ PGFO_APP_URL: stack.origin!, PGFO_CLUSTER: stack.cluster.name, PGFO_NODE: node, PGFO_APP_RESOURCE: LOCAL_NODE_AUTH_AUDIENCE, PGFO_IMDS_URL: imds.baseUrl(vm) }).file,
    ]);
  const primaryNow = async () => (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
  const switchovers = () => stack.runtime.listInstances().filter((i) => i.name === 'switchover');

  it('a hook with another VM\'s identity is refused (403): nothing moves', async () => {
    const primary = await primaryNow();
    const other = stack.cluster.nodes.find((n) => n.name !== primary)!.name;
    const before = { switchovers: switchovers().length, pools: (await stack.lab.status()).ilb };

    const run = await hook(primary, other);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ agent: 'shutdown-hook', outcome: 'refused', detail: expect.stringMatching(/HTTP 403: .*a VM may call only its own node's routes/) })]);
    expect(imds.record.tokens.at(-1)).toMatchObject({ vm: other, resource: LOCAL_NODE_AUTH_AUDIENCE });
    expect(switchovers()).toHaveLength(before.switchovers);
    expect((await stack.lab.status()).ilb).toEqual(before.pools);
    expect(await primaryNow()).toBe(primary);
  });

  it('switches over under a write load, then the node stops with zero lost commits', async () => {
    const old = await primaryNow();
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);

    const tokensBefore = imds.record.tokens.length;
    const run = await hook(old);

    expect(run.code).toBe(0);
    expect(imds.record.tokens.slice(tokensBefore)).toEqual([expect.objectContaining({ vm: old, resource: LOCAL_NODE_AUTH_AUDIENCE })]);
    expect(run.results).toEqual([expect.objectContaining({ agent: 'shutdown-hook', outcome: 'approved', node: old, operationId: expect.stringMatching(/^lab-switchover-shutdown-/) })]);
    const operationId = run.results[0].operationId;
    const { body } = await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`);
    const report = body as unknown as OperationReport;
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old, problems: [] });
    expect(report.newPrimary).not.toBe(old);
    // The same VM asking again (a restarted hook, a new request id): no longer the primary, approved at once, nothing new started.
    const started = switchovers().length;
    const again = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/${old}/shutdown`, { requestId: 'hook-restarted-1' }, vmIdentity(stack, old));
    expect(again).toMatchObject({ status: 200, body: { verdict: 'approve', node: old } });
    expect(switchovers()).toHaveLength(started);

    // systemd now stops PostgreSQL on the shutting-down VM.
    await stack.lab.server(old).stop('fast');
    await load.waitForCommits(30); // the cluster still takes writes
    const writes = await load.stop();

    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const status = await stack.lab.status();
    expect(status.nodes.find((n) => n.role === 'primary')!.name).toBe(report.newPrimary);
    expect(status.ilb.writePool).toEqual([report.newPrimary]);
    expect(status.ilb.readPool).not.toContain(old); // out of the pools while it is down
    await stack.lab.server(old).start();
  });

  it('on a standby it only leaves the read pool: no switchover', async () => {
    const status = await stack.lab.status();
    const node = status.ilb.readPool[0];
    const before = switchovers().length;

    const run = await hook(node);

    expect(run.results).toEqual([expect.objectContaining({ outcome: 'approved', node })]);
    expect(switchovers()).toHaveLength(before);
    expect((await stack.lab.status()).ilb.readPool).not.toContain(node);
  });
});
