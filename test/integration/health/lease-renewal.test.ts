import { NodeAgents } from '../../../harness/lab/node-agents';
import { LocalStack } from '../../../harness/local/stack';
import { waitFor } from '../../../harness/util/wait';
import { AZURE_SETTING_NAMES } from '../../../src/adapters/azure';
import { healthState, primaryProbe, probedUpForWrites, startFailoverStack } from '../failover/support';

/** Each ARM request the app sends is given up after this long (ARM answers none of them here). */
const ARM_REQUEST_TIMEOUT_MS = 20_000;
/** The health check's default schedule: every 5 s. */
const SLOT_MS = 5000;
const CHECKS = 6;

/**
 * Probe mode, the default policy (leaseTtlSeconds 15, probeTimeoutMs 3 s) and the health check
 * on its real schedule, while a standby is silent (each check waits out its probe timeout) and
 * ARM answers nothing (each check would wait for its power state): the power-state read ends
 * with the look (src/app/power-state-reads.ts), so no check runs into the next slot, every slot
 * renews the lease, and the primary is never fenced — a lapse with a standby down would fence it.
 */
describe('the write lease while a standby is silent and ARM answers nothing', () => {
  let stack: LocalStack;
  const setting = AZURE_SETTING_NAMES.armRequestTimeoutMs;
  const before = process.env[setting];

  beforeAll(async () => {
    process.env[setting] = String(ARM_REQUEST_TIMEOUT_MS);
    stack = await startFailoverStack('78.1', { loadBalancing: 'probe', scheduleTimers: true });
  });

  afterAll(async () => {
    stack?.azure.control.makeArmAvailable();
    await stack?.stop();
    if (before === undefined) delete process.env[setting];
    else process.env[setting] = before;
  });

  it('checks in every slot and keeps the primary serving writes', async () => {
    await waitFor('the health check to find the cluster healthy', () => healthState(stack)?.lastCheck?.verdict === 'healthy', { timeoutMs: 60_000 });
    await waitFor('the write rule to probe pg1 up', () => probedUpForWrites(stack, 'pg1'), { timeoutMs: 30_000 });

    await stack.lab.vanish('pg3');
    stack.azure.control.makeArmUnavailable('timeout');
    const silentSince = Date.now();
    let refusedProbes = 0;
    let probes = 0;
    let watching = true;
    const watcher = (async () => {
      for (; watching; probes++) if (!(await primaryProbe(stack.cluster.nodes[0].host))) refusedProbes++;
    })();

    // The checks that began once pg3 was silent and ARM gone, each by when it began.
    const checks: { at: number; findings: string[] }[] = [];
    await waitFor(`${CHECKS} more checks`, () => {
      const last = healthState(stack)!.lastCheck!;
      if (Date.parse(last.at) > silentSince && checks.at(-1)?.at !== Date.parse(last.at)) checks.push({ at: Date.parse(last.at), findings: last.findings });
      return checks.length >= CHECKS;
    }, { timeoutMs: (CHECKS + 4) * 2 * SLOT_MS, intervalMs: 50 });
    watching = false;
    await watcher;

    expect(checks.every((c) => c.findings.some((f) => f.startsWith('pg3 is unreachable')))).toBe(true);
    // No check ran into the next slot: one check per slot, none skipped.
    const gaps = checks.slice(1).map((c, i) => c.at - checks[i].at);
    expect(gaps.filter((gap) => gap >= 1.5 * SLOT_MS)).toEqual([]);
    // Renewed in every slot, the lease never lapsed: pg1's agent never fenced it.
    const agents = new NodeAgents(stack.lab, {});
    expect(agents.events('pg1').filter((e) => e.event === 'fenced')).toEqual([]);
    expect(probes).toBeGreaterThan(0);
    expect(refusedProbes).toBe(0);
  }, 300_000);
});
