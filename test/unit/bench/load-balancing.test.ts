import { resolveOptions } from '../../../harness/bench/options';
import { planBench } from '../../../harness/bench/plan';
import { OurStackEnvironment } from '../../../harness/bench/ours';
import { haproxyConfig, patroniLayout } from '../../../harness/bench/patroni/config';
import type { PatroniEnvironment } from '../../../harness/bench/patroni/scenarios';
import { peerOf } from '../../../harness/bench/results';

describe('bench options: load balancing and address blocks', () => {
  it('runs pool mode unless --load-balancing asks for probe mode too', () => {
    expect(resolveOptions({}).loadBalancing).toEqual(['pools']);
    expect(resolveOptions({ loadBalancing: 'pools,probe' }).loadBalancing).toEqual(['pools', 'probe']);
    expect(resolveOptions({ loadBalancing: 'probe' }).loadBalancing).toEqual(['probe']);
    expect(() => resolveOptions({ loadBalancing: 'dns' })).toThrow(/--load-balancing takes a comma-separated list of pools, probe/);
  });

  it('takes three distinct loopback blocks with --blocks, 60.1-60.3 by default', () => {
    expect(resolveOptions({}).blocks).toEqual({ ours: '60.1', peer: '60.2', peerFast: '60.3' });
    expect(resolveOptions({ blocks: '68.1,68.2,69.1' }).blocks).toEqual({ ours: '68.1', peer: '68.2', peerFast: '69.1' });
    for (const bad of ['68.1,68.2', '68.1,68.1,68.2', '68,68.2,68.3', '68.1,68.2,300.1']) expect(() => resolveOptions({ blocks: bad })).toThrow(/--blocks takes three distinct/);
  });
});

describe('bench plan: probe mode', () => {
  it('runs each switchover in every mode asked for, the rows and ids saying which', () => {
    const plan = planBench(resolveOptions({ quick: true, loadBalancing: 'pools,probe', methods: 'sql', profiles: 'zero', peer: false, blocks: '68.1,68.2,68.3' }));
    expect(plan.scenarios.map((s) => s.id)).toEqual(['ours/switchover/sql/zero', 'ours/switchover/sql/zero/probe']);
    expect(plan.scenarios.map((s) => s.label)).toEqual(['ours, SQL promote, pools, zero latency', 'ours, SQL promote, probe, zero latency']);
    expect(plan.scenarios.map((s) => s.variant.loadBalancing)).toEqual(['pools', 'probe']);
    const environments = plan.scenarios.map((s) => s.environment as OurStackEnvironment);
    expect(environments.map((e) => e.loadBalancing)).toEqual(['pools', 'probe']);
    expect(new Set(environments).size).toBe(2);
  });

  it('runs the health check on its schedule in probe mode (it renews the write lease), not for pool-mode switchovers', () => {
    const pools = new OurStackEnvironment('zero', 'sql', '68.1');
    const probe = new OurStackEnvironment('zero', 'sql', '68.1', undefined, 'dts', 'probe');
    expect(pools.timersScheduled).toBe(false);
    expect(probe.timersScheduled).toBe(true);
    expect(probe.settings()).toMatchObject({ loadBalancing: 'probe', scheduleTimers: true, healthCheckSchedule: '*/5 * * * * *' });
    expect(pools.settings()).toMatchObject({ loadBalancing: 'pools', scheduleTimers: false });
  });

  it('fails over in every mode asked for, the rows and ids saying which', () => {
    const plan = planBench(resolveOptions({ quick: true, failoverRuns: '1', detection: 'fast', loadBalancing: 'pools,probe', methods: 'sql', profiles: 'zero', peer: false }));
    expect(plan.scenarios.map((s) => s.id)).toEqual(['ours/switchover/sql/zero', 'ours/switchover/sql/zero/probe', 'ours/failover/sql/zero/fast', 'ours/failover/sql/zero/fast/probe']);
    expect(plan.scenarios.slice(2).map((s) => s.label)).toEqual(['ours, kill -9 primary, fast detection', 'ours, kill -9 primary, fast detection, probe']);
  });

  it('with --fault kill,vanish: each failover row also with the primary\'s VM vanishing, ours and Patroni\'s, each compared with its own kind; no vanishing with ARM down (only a power-on brings the VM back)', () => {
    const plan = planBench(resolveOptions({ quick: true, failoverRuns: '1', detection: 'standard', loadBalancing: 'probe', arm: 'available,unavailable', fault: 'kill,vanish', methods: 'sql', profiles: 'zero', ours: true, install: false }));
    expect(plan.scenarios.filter((s) => s.kind === 'failover').map((s) => s.id)).toEqual([
      'patroni/failover/standard',
      'patroni/failover/standard/vanish',
      'ours/failover/sql/zero/standard/probe',
      'ours/failover/sql/zero/standard/probe/vanish',
      'ours/failover/sql/zero/standard/probe/arm-timeout',
    ]);
    expect(plan.scenarios.filter((s) => s.variant.fault === 'vanish').map((s) => s.label)).toEqual([
      "Patroni + HAProxy, leader's VM vanishes, standard detection",
      "ours, primary's VM vanishes, standard detection, probe",
    ]);
    const result = (id: string, tool: 'ours' | 'patroni', variant: Record<string, string>) => ({ id, tool, kind: 'failover', variant }) as never;
    const peers = [result('patroni/failover/standard', 'patroni', { detection: 'standard' }), result('patroni/failover/standard/vanish', 'patroni', { detection: 'standard', fault: 'vanish' })];
    expect(peerOf({ kind: 'failover', variant: { detection: 'standard', fault: 'vanish' } }, peers)?.id).toBe('patroni/failover/standard/vanish');
    expect(peerOf({ kind: 'failover', variant: { detection: 'standard' } }, peers)?.id).toBe('patroni/failover/standard');
  });

  it("beside our realistic rows, Patroni behind a front probing like Azure's load balancer (every 5 s, one failure, sessions kept), each of ours compared with the Patroni of its own profile", () => {
    const plan = planBench(resolveOptions({ runs: '1', realisticRuns: '1', failoverRuns: '1', realisticFailoverRuns: '1', detection: 'standard', loadBalancing: 'probe', fault: 'vanish', methods: 'sql', profiles: 'zero,realistic', install: false }));
    const patroni = plan.scenarios.filter((s) => s.tool === 'patroni');
    expect(patroni.map((s) => [s.id, s.variant.latency])).toEqual([
      ['patroni/switchover', 'zero'],
      ['patroni/failover/standard/vanish', 'zero'],
      ['patroni/switchover/azure-ilb', 'realistic'],
      ['patroni/failover/standard/vanish/azure-ilb', 'realistic'],
    ]);
    expect(patroni.at(-1)!.label).toBe("Patroni + HAProxy probing like Azure's load balancer (5 s), leader's VM vanishes, standard detection");
    const onAzure = patroni.at(-1)!.environment as PatroniEnvironment;
    expect(haproxyConfig(patroniLayout('/tmp/x', '60.2', '/usr/lib/postgresql/15/bin'), onAzure.front)).toMatch(/^ {4}default-server inter 5s fall 1 rise 1$/m);
    expect(haproxyConfig(patroniLayout('/tmp/x', '60.2', '/usr/lib/postgresql/15/bin'))).toMatch(/^ {4}default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions$/m);
    const results = plan.scenarios.map((s) => ({ id: s.id, tool: s.tool, kind: s.kind, variant: s.variant }) as never);
    const ours = (latency: string) => plan.scenarios.find((s) => s.tool === 'ours' && s.kind === 'failover' && s.variant.latency === latency)!;
    expect(peerOf(ours('zero'), results)?.id).toBe('patroni/failover/standard/vanish');
    expect(peerOf(ours('realistic'), results)?.id).toBe('patroni/failover/standard/vanish/azure-ilb');
    const oursSwitchover = plan.scenarios.find((s) => s.tool === 'ours' && s.kind === 'switchover' && s.variant.latency === 'realistic')!;
    expect(peerOf(oursSwitchover, results)?.id).toBe('patroni/switchover/azure-ilb');
  });

  it('with --arm unavailable: probe-mode switchovers with ARM answering 503 and kill -9 failovers with ARM timing out, beside the ARM-available rows; refused without probe mode', () => {
    const plan = planBench(resolveOptions({ quick: true, failoverRuns: '1', detection: 'standard', loadBalancing: 'pools,probe', arm: 'available,unavailable', methods: 'sql', profiles: 'zero', peer: false }));
    expect(plan.scenarios.map((s) => s.id)).toEqual([
      'ours/switchover/sql/zero',
      'ours/switchover/sql/zero/probe',
      'ours/switchover/sql/zero/probe/arm-503',
      'ours/failover/sql/zero/standard',
      'ours/failover/sql/zero/standard/probe',
      'ours/failover/sql/zero/standard/probe/arm-timeout',
    ]);
    expect(plan.scenarios.filter((s) => s.variant.arm).map((s) => s.label)).toEqual([
      'ours, SQL promote, probe, zero latency, ARM answering 503',
      'ours, kill -9 primary, standard detection, probe, ARM timing out',
    ]);
    expect(plan.scenarios.map((s) => (s.environment as OurStackEnvironment).armUnavailable)).toEqual([undefined, undefined, '503', undefined, undefined, 'timeout']);
    expect(resolveOptions({}).arm).toEqual(['available']);
    expect(resolveOptions({}).faults).toEqual(['kill']);
    expect(() => resolveOptions({ fault: 'unplug' })).toThrow(/--fault takes a comma-separated list of kill, vanish/);
    expect(resolveOptions({ loadBalancing: 'probe', arm: 'unavailable' }).arm).toEqual(['unavailable']);
    expect(() => resolveOptions({ arm: 'unavailable' })).toThrow(/--arm unavailable needs --load-balancing probe/);
    expect(() => resolveOptions({ loadBalancing: 'probe', arm: 'down' })).toThrow(/--arm takes a comma-separated list of available, unavailable/);
    expect(() => new OurStackEnvironment('zero', 'sql', '68.1', undefined, 'dts', 'pools', '503')).toThrow(/needs probe load balancing/);
  });
});
