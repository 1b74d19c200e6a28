import { LocalStack } from '../../../harness/local/stack';
import { OperationReport } from '../../../src/domain/operation';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { api, startTestStack, TEST_FUNCTION_KEY } from '../../support/stack';
import { runScript, writeAgentConfig } from '../../unit/agent/support';

/**
 * The real shutdown hook (bash) run on "the primary's VM" while a client writes through the load
 * balancer: the hook returns only once the primary has moved away, then the test stops that
 * node's PostgreSQL — as systemd does right after the hook's ExecStop — and not one acknowledged
 * commit is lost.
 */
describe('shutdown hook: the primary moves away before its PostgreSQL stops', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('50.2');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const hook = (node: string) =>
    runScript('shutdown-hook.sh', ['--force', '--config', writeAgentConfig({ PGFO_APP_URL: stack.origin!, PGFO_CLUSTER: stack.cluster.name, PGFO_NODE: node, PGFO_FUNCTION_KEY: TEST_FUNCTION_KEY }).file]);
  const primaryNow = async () => (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;

  it('switches over under a write load, then the node stops with zero lost commits', async () => {
    const old = await primaryNow();
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);

    const run = await hook(old);

    expect(run.code).toBe(0);
    expect(run.results).toEqual([expect.objectContaining({ agent: 'shutdown-hook', outcome: 'approved', node: old, operationId: expect.stringMatching(/^lab-switchover-shutdown-/) })]);
    const operationId = run.results[0].operationId;
    const { body } = await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`);
    const report = body as unknown as OperationReport;
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old, problems: [] });
    expect(report.newPrimary).not.toBe(old);

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
    const before = stack.runtime.listInstances().filter((i) => i.name === 'switchover').length;

    const run = await hook(node);

    expect(run.results).toEqual([expect.objectContaining({ outcome: 'approved', node })]);
    expect(stack.runtime.listInstances().filter((i) => i.name === 'switchover')).toHaveLength(before);
    expect((await stack.lab.status()).ilb.readPool).not.toContain(node);
  });
});
