import { LocalStack } from '../../../harness/local/stack';
import { WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import type { RejoinReport } from '../../../orchestrations/cluster-monitor-rejoin';
import { rejoinInstanceId } from '../../../src/domain/health';
import { automaticFailoverReport, check, checkUntil, expectOnlyTheOldPrimarysLastCommitsLost, probedUpForWrites, startFailoverStack, waitUntilNotStreaming, watchPrimaryProbes } from './support';

const LEASE_TTL_SECONDS = 10;
const LEASE_WAIT_MARGIN_SECONDS = 1;
/** Longer than the lease and its margin, as Azure's ~30 s power-off is longer than the default 30 s + 5 s counted from the last renewal, before detection. */
const POWER_OFF_MS = 20_000;
const FAILURE_THRESHOLD = 2;

/**
 * Probe mode, the primary's VM vanishes while ARM is slow to power a VM off (docs/azure-platform.md
 * §20; the emulator's power-off takes longer than the lease). The failover powers the silent VM off
 * and waits its lease out at once: the lease lapses first, so it promotes then — its agent, if it
 * still ran, fenced it — and the power-off goes on and completes after the failover. One writer
 * all along, the commits lost only the old primary's last ones, and the VM started again rejoins.
 */
describe('probe mode: a vanished primary whose power-off outlasts its lease', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startFailoverStack('76.1', {
      loadBalancing: 'probe',
      latency: { powerOffMs: POWER_OFF_MS },
      policy: {
        fenceByPowerOff: true,
        leaseTtlSeconds: LEASE_TTL_SECONDS,
        leaseWaitMarginSeconds: LEASE_WAIT_MARGIN_SECONDS,
        health: { failureThreshold: FAILURE_THRESHOLD, graceSeconds: 0, probeTimeoutMs: 1000 },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;

  /** The primary, healthy and probed up for writes, under a write load through the write frontend, its probes watched for two writers. */
  const primaryServingWrites = async () => {
    const old = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    await checkUntil(stack, (s) => s.lastCheck?.verdict === 'healthy' && s.primary?.name === old, 5);
    await waitFor(`the write rule to probe ${old} up`, () => probedUpForWrites(stack, old), { timeoutMs: 30_000 });
    const watcher = watchPrimaryProbes(stack, stack.cluster.nodes.map((n) => n.name));
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    return { old, watcher, load };
  };

  it('promotes once the lease lapsed, before the power-off ends; the power-off completes afterwards; one writer; rejoined after power-on', async () => {
    const { old, watcher, load } = await primaryServingWrites();
    const powerChangesBefore = stack.azure.record.powerChanges.length;

    await stack.lab.vanish(old);
    const standbys = stack.cluster.nodes.map((n) => n.name).filter((n) => n !== old);
    await waitUntilNotStreaming(stack, standbys);
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: old });
    const promoted = report.newPrimary!;
    const step = (name: string) => report.steps.find((s) => s.name === name)!;

    const fence = step(`power off ${old} or wait out its write lease, whichever ends first`);
    const { leaseHorizon } = step('claim cluster').detail as { leaseHorizon: string };
    const lapsed = Date.parse(leaseHorizon) + LEASE_WAIT_MARGIN_SECONDS * 1000;
    expect(fence).toMatchObject({ result: 'ok', detail: { fencedBy: 'lease', leaseLapsedAt: new Date(lapsed).toISOString(), powerOff: 'still under way' } });
    const promotedAt = Date.parse(step('promote candidate').startedAt);
    // The look after the lease asks the silent old primary again unless the first look already
    // came after the lapse (the case below forces that).
    const afterLeaseLook = report.steps.filter((s) => s.name === 're-inspect').at(-1)!;
    const firstLookAfterLapse = Date.parse(step('inspect cluster').startedAt) >= lapsed;
    expect(afterLeaseLook.detail).toEqual(expect.arrayContaining([firstLookAfterLapse ? `${old}: not asked` : expect.stringMatching(new RegExp(`^${old}: unreachable \\(asked briefly \\(1000 ms`))]));
    expect(promotedAt).toBeGreaterThanOrEqual(lapsed);
    // The power-off was asked for before the promotion and had not ended by then.
    const powerChanges = stack.azure.record.powerChanges.slice(powerChangesBefore);
    expect(powerChanges[0]).toEqual({ vm: old, state: 'stopping' });
    expect(promotedAt).toBeLessThan(Date.parse(fence.startedAt) + POWER_OFF_MS);

    // Once the writer had moved, the failover reported where the power-off stood, without waiting for it.
    const afterLease = step(`power off ${old}: after the lease`);
    expect(afterLease.result).toBe('ok');
    expect([{ stillUnderWay: true }, { powerState: 'stopped' }]).toContainEqual(afterLease.detail);
    expect(Date.parse(afterLease.startedAt)).toBeGreaterThan(promotedAt);

    await waitFor(`the write rule to probe ${promoted} up`, () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe-mode VM vanished, slow power-off: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}; write outage ${writes.writeOutageMs} ms\n`);

    // The power-off the failover no longer waited for still completes: the second line holds. The
    // health check goes on meanwhile, renewing the new primary's lease.
    await waitFor(`${old}'s VM to be powered off`, async () => {
      await check(stack);
      return stack.azure.control.powerState(old) === 'stopped';
    }, { timeoutMs: POWER_OFF_MS * 3, intervalMs: 1000 });
    expect(stack.azure.record.powerChanges.slice(powerChangesBefore).filter((c) => c.vm !== old)).toEqual([]);

    stack.azure.control.setPowerState(old, 'running');
    const rejoined = await waitFor(`the health check to rejoin ${old}`, async () => {
      await check(stack);
      const instance = stack.runtime.getInstance(rejoinInstanceId(stack.cluster.name, old));
      const outcome = instance?.runtimeStatus === 'Completed' ? (JSON.parse(instance.output!) as RejoinReport) : undefined;
      return outcome?.outcome === 'rejoined' ? outcome : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    expect(rejoined).toMatchObject({ primary: promoted });
    await stack.lab.waitUntilHealthy();
    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  }, 300_000);

  it('a vanished primary whose lease lapsed before the failover began is not asked again after the lease: its first look already came after it', async () => {
    const { old, watcher, load } = await primaryServingWrites();

    await stack.lab.vanish(old);
    // Every lease the app wrote ends by then: each renewal is capped at its look's start + ttl.
    const leasesLapsed = Date.now() + (LEASE_TTL_SECONDS + LEASE_WAIT_MARGIN_SECONDS) * 1000;
    const standbys = stack.cluster.nodes.map((n) => n.name).filter((n) => n !== old);
    await waitUntilNotStreaming(stack, standbys);
    await waitFor(`every lease of ${old} to lapse`, () => Date.now() >= leasesLapsed, { timeoutMs: 60_000, intervalMs: 200 });
    const states = await checkUntil(stack, (s) => s.lastCheck?.action?.kind === 'failover', FAILURE_THRESHOLD);
    const report = await automaticFailoverReport(stack, states.at(-1)!);
    expect(report).toMatchObject({ kind: 'failover', outcome: 'completed', oldPrimary: old });
    const promoted = report.newPrimary!;
    const step = (name: string) => report.steps.find((s) => s.name === name)!;
    const { leaseHorizon } = step('claim cluster').detail as { leaseHorizon: string };
    const lapsed = Date.parse(leaseHorizon) + LEASE_WAIT_MARGIN_SECONDS * 1000;
    expect(Date.parse(step('inspect cluster').startedAt)).toBeGreaterThanOrEqual(lapsed);
    expect(step(`power off ${old} or wait out its write lease, whichever ends first`).detail).toMatchObject({ fencedBy: 'lease', leaseLapsedAt: new Date(lapsed).toISOString() });
    // Silent at that first look, it is asked neither before step 4 nor after the lease; the
    // standbys are (S6).
    const looks = report.steps.filter((s) => s.name === 're-inspect');
    expect(looks).toHaveLength(2);
    for (const look of looks) expect(look.detail).toEqual(expect.arrayContaining([`${old}: not asked`, ...standbys.map((n) => expect.stringMatching(new RegExp(`^${n}: (standby|primary) `)))]));

    await waitFor(`the write rule to probe ${promoted} up`, () => probedUpForWrites(stack, promoted), { timeoutMs: 30_000 });
    await load.waitForCommits(30);
    const writes = await load.stop();
    const lost = await expectOnlyTheOldPrimarysLastCommitsLost(stack, writes.acknowledged, hostOf(promoted));
    process.stdout.write(`probe-mode VM vanished, lease lapsed before detection: ${lost.length} acknowledged commit(s) lost of ${writes.acknowledged.length}\n`);
    const watched = await watcher.stop();
    expect(watched.rounds).toBeGreaterThan(0);
    expect(watched.doubled).toEqual([]);
  }, 300_000);
});
