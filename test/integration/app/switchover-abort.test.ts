import { execFileSync, spawnSync } from 'node:child_process';
import { LocalStack } from '../../../harness/local/stack';
import type { WriteLoadReport } from '../../../harness/load/write-load';
import { withClient } from '../../../src/adapters/postgres/connect';
import { startTestStack } from '../../support/stack';
import { switchoverUnderLoad } from '../../support/operations';
import { FaultyGuest } from '../../support/faults';
import { clusterServices } from '../../../src/app/services';

/**
 * S3 (docs/invariants.md): a failure or timeout before promotion rolls back — the old primary
 * serves again, the load balancer is as before and no standby was promoted — while a client keeps
 * writing.
 */
describe('clean abort of a planned switchover', () => {
  const guest = new FaultyGuest();
  let stack: LocalStack;

  beforeAll(async () => {
    // Promotion over Run Command, so that a broken VM agent can make it fail.
    stack = await startTestStack('20.4', { executor: guest.executor, policy: { catchupTimeoutSeconds: 30, promoteMethod: 'runCommand' } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  afterEach(() => guest.repairAll());

  /** The application got back in (logins resumed, the old primary writable through the same frontend) and lost nothing. */
  async function expectAsBefore({ writes, lost }: { writes: WriteLoadReport; lost: number[] }, readPool = ['pg2', 'pg3']) {
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role, n.timeline])).toEqual([
      ['pg1', 'primary', 1],
      ['pg2', 'standby', 1],
      ['pg3', 'standby', 1],
    ]);
    expect(status.ilb).toMatchObject({ writePool: ['pg1'], readPool });
    expect(lost).toEqual([]);
    expect(new Set(writes.acknowledged.map((c) => c.server))).toEqual(new Set([stack.lab.layout.nodes[0].host]));
  }

  it('rolls back when stopping the primary fails', async () => {
    guest.breakScript('pg1', 'stop-clean');
    const { report, ...writes } = await switchoverUnderLoad(stack, { target: 'pg2' });
    expect(report.outcome).toBe('aborted');
    expect(report.reason).toMatch(/aborted before promotion: .*stop-clean/);
    expect(report.steps.map((s) => [s.name, s.result])).toEqual([
      ['claim cluster', 'ok'],
      ['inspect cluster', 'ok'],
      ['drain primary', 'ok'],
      ['stop primary', 'failed'],
      ['undo: restart old primary', 'ok'],
      ['undo: resume application logins', 'ok'],
    ]);
    await expectAsBefore(writes);
  });

  it('rolls back when promotion fails and the candidate was not promoted', async () => {
    guest.breakScript('pg2', 'promote');
    const { report, ...writes } = await switchoverUnderLoad(stack, { target: 'pg2' });
    expect(report.outcome).toBe('aborted');
    expect(report.reason).toMatch(/promotion of pg2 failed/);
    expect(report.steps.filter((s) => s.name.startsWith('undo:')).map((s) => [s.name, s.result])).toEqual([
      ['undo: take pg2 out of the pools', 'ok'],
      ['undo: restart old primary', 'ok'],
      ['undo: resume application logins', 'ok'],
    ]);
    // A promotion that was asked for might still complete: the candidate stays out of every pool until someone looks.
    expect(report.problems).toEqual([expect.stringMatching(/pg2 was asked to promote and then taken out of the pools/)]);
    await expectAsBefore(writes, ['pg3']);
    const services = clusterServices('lab');
    await services.loadBalancer.setRole(services.node('pg2'), 'read');
  });

  it('rolls back when the candidate stops receiving WAL and the catch-up times out', async () => {
    const receiverPid = await withClient(stack.lab.adminEndpoint('pg3'), async (client) => (await client.query<{ pid: number }>('SELECT pid FROM pg_stat_wal_receiver')).rows[0].pid);
    execFileSync('kill', ['-STOP', String(receiverPid)]);
    try {
      const { report, ...writes } = await switchoverUnderLoad(stack, { target: 'pg3', timeoutSeconds: 2 });
      expect(report.outcome).toBe('aborted');
      expect(report.reason).toMatch(/pg3 received WAL up to .* and replayed up to .*, not past the shutdown checkpoint .*, within 2 s/);
      execFileSync('kill', ['-CONT', String(receiverPid)]);
      await expectAsBefore(writes);
    } finally {
      spawnSync('kill', ['-CONT', String(receiverPid)]); // in case an assertion failed first; it may have exited since
    }
  });

  it('failed every run of a broken script, retries included', () => {
    const runs = (script: string) => guest.failures.filter((f) => f.script === script).length;
    expect(runs('stop-clean')).toBe(3);
    expect(runs('promote')).toBe(3);
  });

  // Last: it completes the switchover, so the cluster is no longer as the tests above expect.
  it('goes on when a probe of the candidate fails during the catch-up: one missed look is no verdict', async () => {
    const services = clusterServices('lab');
    const adminEndpoint = services.adminEndpoint.bind(services);
    let failingProbes = 0;
    services.adminEndpoint = async (node) => {
      if (node === 'pg2' && failingProbes > 0) {
        failingProbes -= 1;
        throw new Error('injected: pg2 did not answer the probe');
      }
      return adminEndpoint(node);
    };
    // Every attempt of the first position probe after the stop fails (the activity's retries included).
    guest.afterScript('pg1', 'stop-clean', () => (failingProbes = 3));
    try {
      const { report, lost } = await switchoverUnderLoad(stack, { target: 'pg2' });
      expect(failingProbes).toBe(0);
      expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2' });
      expect(lost).toEqual([]);
    } finally {
      services.adminEndpoint = adminEndpoint;
    }
  });
});
