import type { ClusterConfig } from '../../../src/config/schema';
import { decideWriteLease, leaseExpiryCap, leaseWaitEnds, operationLeaseCap } from '../../../src/domain/write-lease';
import { healthyNodes } from './health-support';
import { down as unreachable, primary, view } from '../../support/views';

describe('decideWriteLease (probe mode)', () => {
  it('renews the lease of the one reachable primary that holds it, at its epoch', () => {
    expect(decideWriteLease(view(healthyNodes()), { holder: 'pg1', epoch: 7 }, false)).toEqual({ action: 'renew', node: 'pg1', epoch: 7 });
  });

  it('renews nothing while an operation owns the cluster: a failover waits out the lease from its claim', () => {
    expect(decideWriteLease(view(healthyNodes()), { holder: 'pg1', epoch: 7 }, true)).toEqual({ action: 'none', why: "an operation owns the cluster: pg1's lease is left to it" });
  });

  it('grants the first lease, or one a drain revoked, only while no operation owns the cluster', () => {
    expect(decideWriteLease(view(healthyNodes()), null, false)).toEqual({ action: 'grant', node: 'pg1' });
    expect(decideWriteLease(view(healthyNodes()), { holder: '', epoch: 3 }, false)).toEqual({ action: 'grant', node: 'pg1' });
    expect(decideWriteLease(view(healthyNodes()), null, true)).toMatchObject({ action: 'none', why: expect.stringMatching(/an operation owns the cluster/) });
  });

  it('never takes a lease from the node it names', () => {
    expect(decideWriteLease(view(healthyNodes()), { holder: 'pg2', epoch: 4 }, false)).toEqual({ action: 'none', why: "pg1's lease names pg2: only a switchover or a failover moves it" });
  });

  it('renews and grants nothing with two writable nodes (S2), or none', () => {
    const two = [primary('pg1', '0/3000000', []), primary('pg2', '0/3000000', []), unreachable('pg3')];
    expect(decideWriteLease(view(two), { holder: 'pg1', epoch: 2 }, false)).toEqual({ action: 'none', why: 'pg1 and pg2 are all writable: no lease is renewed or granted (S2)' });
    expect(decideWriteLease(view([unreachable('pg1'), unreachable('pg2')]), { holder: 'pg1', epoch: 2 }, false)).toMatchObject({ action: 'none' });
  });
});

describe('the lease in time', () => {
  const at = new Date('2026-12-05T10:00:00.000Z');

  it('caps a health check\'s lease write at the ttl from when its look began', () => {
    expect(leaseExpiryCap(at, 30).toISOString()).toBe('2026-12-05T10:00:30.000Z');
  });

  it('lets a failover promote once the horizon its claim read has passed, plus the margin', () => {
    const policy = { leaseTtlSeconds: 30, leaseWaitMarginSeconds: 5 };
    expect(leaseWaitEnds({ claimedAt: at, leaseHorizon: '2026-12-05T09:59:50.000Z' }, policy).toISOString()).toBe('2026-12-05T09:59:55.000Z');
    // No horizon on record (written before it existed): the ttl from the claim.
    expect(leaseWaitEnds({ claimedAt: at, leaseHorizon: null }, policy).toISOString()).toBe('2026-12-05T10:00:35.000Z');
  });

  it('caps an operation\'s leases in probe mode only', () => {
    const policy = { leaseTtlSeconds: 30 } as ClusterConfig['policy'];
    expect(operationLeaseCap(at, { loadBalancer: { membership: 'probe' } as ClusterConfig['loadBalancer'], policy })).toBe('2026-12-05T10:00:30.000Z');
    expect(operationLeaseCap(at, { loadBalancer: { membership: 'nic' } as ClusterConfig['loadBalancer'], policy })).toBeUndefined();
  });
});
