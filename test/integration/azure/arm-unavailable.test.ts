import { createBashExecutor, type ArmUnavailableMode } from '../../../harness/local/azure-emulator';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { LocalStack } from '../../../harness/local/stack';
import { AZURE_SETTING_NAMES } from '../../../src/adapters/azure';
import type { OperationReport } from '../../../src/domain/operation';
import { api, startTestStack } from '../../support/stack';
import { automaticFailoverReport, checkUntil } from '../failover/support';

/** The app's bound on one ARM request here (PG_FAILOVER_ARM_REQUEST_TIMEOUT_MS; 120 s by default). */
const ARM_REQUEST_TIMEOUT_MS = 5000;
/** How long an operation may take to give up on ARM: 4 attempts of its first ARM step, each up to the bound, plus the activity's backoff. */
const OPERATION_ENDS_WITHIN_MS = 180_000;

/**
 * ARM unavailable (docs/azure-platform.md, "ARM unavailable"): whatever the app can or cannot do
 * without its control plane, a planned switchover asked for during the outage ends instead of
 * hanging, loses no acknowledged commit and never leaves two writable primaries; the application
 * writes through the same frontend once ARM is back.
 */
describe('a planned switchover while ARM is unavailable', () => {
  let stack: LocalStack;
  const setting = AZURE_SETTING_NAMES.armRequestTimeoutMs;
  const before = process.env[setting];
  const bash = createBashExecutor();
  /** Runs once, when the old primary's stop script starts (its Run Command was accepted). */
  let onStop: (() => void) | undefined;

  beforeAll(async () => {
    // Read by the app when the stack creates its services.
    process.env[setting] = String(ARM_REQUEST_TIMEOUT_MS);
    stack = await startTestStack('65.1', {
      // A failing primary is failed over after 3 checks, without waiting out a grace period.
      policy: { catchupTimeoutSeconds: 30, fenceByPowerOff: false, health: { graceSeconds: 0, probeTimeoutMs: 1000 } },
      executor: async (vm, script, env, options) => {
        if (vm.name === 'pg1' && /^# =+ stop-clean\.sh$/m.test(script)) {
          onStop?.();
          onStop = undefined;
        }
        return bash(vm, script, env, options);
      },
    });
  });

  afterAll(async () => {
    stack?.azure.control.makeArmAvailable();
    await stack?.stop();
    if (before === undefined) delete process.env[setting];
    else process.env[setting] = before;
  });

  const armRequests = () => stack.azure.record.requests.filter((r) => r.url.startsWith('/subscriptions/'));

  /** Starts a switchover through the HTTP API and waits, bounded, until it ends on its own. */
  async function switchover(): Promise<OperationReport> {
    const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, {});
    expect(started.status).toBe(202);
    const operationId = String(started.body.operationId);
    await stack.runtime.waitForInstance(operationId, { timeoutMs: OPERATION_ENDS_WITHIN_MS });
    const { body } = await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`);
    return body as unknown as OperationReport;
  }

  async function startLoad(): Promise<WriteLoad> {
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    return load;
  }

  it.each(['503', 'timeout'] as const)("ARM '%s' from the start: the switchover fails at its first look, having changed nothing", async (mode: ArmUnavailableMode) => {
    const load = await startLoad();
    const seen = armRequests().length;
    stack.azure.control.makeArmUnavailable(mode, { retryAfterSeconds: 1 });

    const report = await switchover();
    expect(report).toMatchObject({ outcome: 'failed' });
    expect(report.steps.map((s) => [s.name, s.result])).toEqual([
      ['claim cluster', 'ok'],
      ['inspect cluster', 'failed'],
    ]);
    expect(report.reason).toMatch(mode === '503' ? /Could not read the load balancer pools: 503 ServiceUnavailable/ : /Could not read the load balancer pools: .*ARM did not answer GET \S+ within 5 s/);
    // Every ARM request of the attempt was refused ('503') or left unanswered until the app gave up ('timeout': status 0).
    const refused = armRequests().slice(seen);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.status === (mode === '503' ? 503 : 0))).toBe(true);

    stack.azure.control.makeArmAvailable();
    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const status = await stack.lab.status();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual(['pg1']);
    expect(status.ilb.writePool).toEqual(['pg1']);
    expect(new Set(writes.acknowledged.map((c) => c.server))).toEqual(new Set([stack.lab.layout.nodes[0].host]));
  });

  describe("ARM '503' from the moment the old primary's stop was accepted", () => {
    let load: WriteLoad;
    let report: OperationReport;

    it('the switchover ends, its rollback unfinished for want of ARM; the stop took effect: no writable primary', async () => {
      await checkUntil(stack, (state) => state.lastCheck?.verdict === 'healthy', 1); // the monitor knows pg1's position
      load = await startLoad();
      onStop = () => stack.azure.control.makeArmUnavailable('503', { retryAfterSeconds: 1 });

      report = await switchover();
      // "failed", not "aborted": the rollback did not complete and the old primary needs an operator (the reason says so past its clipped start).
      expect(report).toMatchObject({ outcome: 'failed', reason: expect.stringMatching(/^aborted before promotion: .*stop-clean on pg1 .*503 ServiceUnavailable/s) });
      expect(report.steps.map((s) => [s.name, s.result])).toEqual([
        ['claim cluster', 'ok'],
        ['inspect cluster', 'ok'],
        ['drain primary', 'ok'],
        ['stop primary', 'failed'],
        ['undo: restart old primary', 'failed'],
        ['undo: resume application logins', 'failed'],
      ]);
      // The stop ran (ARM had accepted it); only its result was lost. S8: nothing restarts it as a primary.
      const status = await stack.lab.status();
      expect(status.nodes.map((n) => [n.name, n.role])).toEqual([
        ['pg1', 'down'],
        ['pg2', 'standby'],
        ['pg3', 'standby'],
      ]);
    });

    it('once ARM is back the health check fails over: one primary, the write pool on it, no acknowledged commit lost', async () => {
      stack.azure.control.makeArmAvailable();
      const states = await checkUntil(stack, (state) => state.lastAction?.kind === 'failover', 5);
      const failover = await automaticFailoverReport(stack, states.at(-1)!);
      expect(failover).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: 'pg1' });
      const promoted = failover.newPrimary!;

      const writes = await load.stop();
      // The application's own login is the gap below, so the count is read as the admin role.
      const lost = await findLostCommits({ ...stack.lab.adminEndpoint(promoted), database: stack.lab.appEndpoint('write').database }, writes.acknowledged);
      expect(lost).toEqual([]);
      const status = await stack.lab.status();
      expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([promoted]);
      expect(status.ilb.writePool).toEqual([promoted]);
    });

    // The drain paused the application's logins (replicated to every standby) and the switchover could
    // not undo it on the stopped primary: the failover resumes them on the node it promotes.
    it('the application writes through the same frontend again', async () => {
      const after = await startLoad();
      const writes = await after.stop();
      expect(writes.acknowledged.length).toBeGreaterThanOrEqual(30);
    });
  });
});
