import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { startTestStack } from '../../support/stack';
import { switchoverAndWait } from '../../support/operations';

/**
 * Planned switchovers through the HTTP API, the durable orchestration, local Azure and the real
 * VM scripts, while a client writes continuously through the load balancer's write frontend.
 */
describe('planned switchover under a write load', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('20.3');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  async function switchoverUnderLoad(target: string, expectedOld: string) {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const poolChangesBefore = stack.azure.record.poolChanges.length;

    const report = await switchoverAndWait(stack, { target });

    await load.waitForCommits(30);
    const writes = await load.stop();
    return { report, writes, poolChanges: stack.azure.record.poolChanges.slice(poolChangesBefore), expectedOld };
  }

  async function expectConverged(primary: string) {
    const status = await stack.lab.waitUntilHealthy();
    const timelines = new Set(status.nodes.map((n) => n.timeline));
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([primary]);
    expect(timelines.size).toBe(1);
    expect(status.ilb.writePool).toEqual([primary]);
    expect([...status.ilb.readPool].sort()).toEqual(status.nodes.filter((n) => n.name !== primary).map((n) => n.name));
    return [...timelines][0];
  }

  it.each([
    ['pg2', 'pg1'],
    ['pg3', 'pg2'],
    ['pg1', 'pg3'],
  ])('switches over to %s (from %s) losing no acknowledged commit', async (target, old) => {
    const before = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!;
    expect(before.name).toBe(old);
    const { report, writes, poolChanges } = await switchoverUnderLoad(target, old);

    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old, newPrimary: target, problems: [] });
    expect(report.rejoinMethod).toBe('follow');
    expect(report.steps.every((s) => s.result === 'ok')).toBe(true);

    // S1 (docs/invariants.md): every acknowledged commit is on the new primary, checked row by row.
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    // S2: once the new primary took a commit, the old one never took another; never two nodes in the write pool.
    const firstOnNew = writes.acknowledged.findIndex((c) => c.server === hostOf(target));
    expect(firstOnNew).toBeGreaterThan(0);
    expect(writes.acknowledged.slice(firstOnNew).filter((c) => c.server !== hostOf(target))).toEqual([]);
    // The pools change only after the old primary stopped, so a write pool holding both never holds two writable nodes.
    const step = (name: string) => report.steps.find((s) => s.name === name)!;
    expect(Date.parse(step('repoint load balancer').startedAt)).toBeGreaterThanOrEqual(Date.parse(step('stop primary').startedAt) + step('stop primary').durationMs!);
    for (const snapshot of poolChanges) {
      const writers = (snapshot.pools['pg-write'] ?? []).map((m) => m.vm).sort();
      expect([[], [target], [old], [old, target].sort()]).toContainEqual(writers);
    }
    // S4: three nodes streaming from the new primary on its timeline, pools matching roles.
    expect(await expectConverged(target)).toBe(before.timeline! + 1);
  });
});
