import { claim, emptyOwnership, handLease, OwnershipState, permitLease, release } from '../../../src/domain/ownership';

const owner = (operationId: string) => ({ operationId, kind: 'failover' as const, since: '2026-12-05T10:00:00.000Z' });
const request = (operationId: string, edit: Record<string, unknown> = {}) => ({ operationId, kind: 'failover' as const, at: '2026-12-05T10:00:00.000Z', ...edit });

describe('cluster ownership: the write lease horizon (probe mode)', () => {
  it('permits a health check\'s lease write while nobody owns the cluster, and keeps the latest cap', () => {
    let state: OwnershipState = emptyOwnership();
    state = permitLease(state, { id: 'a', cap: '2026-12-05T10:00:30.000Z' });
    expect(state).toEqual({ owner: null, leaseHorizon: '2026-12-05T10:00:30.000Z', lastLeaseRequest: { id: 'a', permitted: true } });
    state = permitLease(state, { id: 'b', cap: '2026-12-05T10:00:20.000Z' }); // an older look's request, late
    expect(state).toMatchObject({ leaseHorizon: '2026-12-05T10:00:30.000Z', lastLeaseRequest: { id: 'b', permitted: true } });
  });

  it('refuses it while an operation owns the cluster, the horizon unchanged; permits it when the asker saw that owner ended', () => {
    const owned: OwnershipState = { owner: owner('f1'), leaseHorizon: '2026-12-05T10:00:30.000Z' };
    expect(permitLease(owned, { id: 'c', cap: '2026-12-05T10:01:00.000Z' })).toEqual({ ...owned, lastLeaseRequest: { id: 'c', permitted: false } });
    expect(permitLease(owned, { id: 'd', cap: '2026-12-05T10:01:00.000Z', ownerEnded: 'other' })).toMatchObject({ leaseHorizon: '2026-12-05T10:00:30.000Z', lastLeaseRequest: { permitted: false } });
    expect(permitLease(owned, { id: 'e', cap: '2026-12-05T10:01:00.000Z', ownerEnded: 'f1' })).toMatchObject({ owner: owner('f1'), leaseHorizon: '2026-12-05T10:01:00.000Z', lastLeaseRequest: { permitted: true } });
  });

  it("permits renewals of the node the owner handed the lease to (its new primary) while it runs on, no other node's; a new owner or the release ends that", () => {
    let owned: OwnershipState = { owner: owner('s1'), leaseHorizon: '2026-12-05T10:00:30.000Z' };
    expect(handLease(owned, { operationId: 'other', node: 'pg2' })).toBe(owned); // only the owner hands it on
    owned = handLease(owned, { operationId: 's1', node: 'pg2' });
    expect(owned.leaseHandedTo).toBe('pg2');
    expect(permitLease(owned, { id: 'a', cap: '2026-12-05T10:01:00.000Z', holder: 'pg2' })).toMatchObject({ leaseHorizon: '2026-12-05T10:01:00.000Z', lastLeaseRequest: { permitted: true } });
    expect(permitLease(owned, { id: 'b', cap: '2026-12-05T10:01:00.000Z', holder: 'pg1' })).toMatchObject({ leaseHorizon: '2026-12-05T10:00:30.000Z', lastLeaseRequest: { permitted: false } });
    expect(permitLease(owned, { id: 'c', cap: '2026-12-05T10:01:00.000Z' })).toMatchObject({ lastLeaseRequest: { permitted: false } });
    const released = release(owned, { operationId: 's1' });
    expect(released.leaseHandedTo).toBeNull();
    const takenOver = claim(owned, request('f2', { replacing: 's1' })).state;
    expect(takenOver).toMatchObject({ owner: { operationId: 'f2' }, leaseHandedTo: null });
    expect(permitLease(takenOver, { id: 'd', cap: '2026-12-05T10:01:00.000Z', holder: 'pg2' })).toMatchObject({ lastLeaseRequest: { permitted: false } });
  });

  it('tells the claim the horizon: every lease permitted before it', () => {
    const state = permitLease(emptyOwnership(), { id: 'a', cap: '2026-12-05T10:00:30.000Z' });
    expect(claim(state, request('f1')).claim).toEqual({ granted: true, leaseHorizon: '2026-12-05T10:00:30.000Z' });
    expect(claim(emptyOwnership(), request('f1')).claim).toEqual({ granted: true, leaseHorizon: null });
  });

  it('adds an operation\'s own lease cap when it releases, and a replaced owner\'s when a claim takes over', () => {
    const owned: OwnershipState = { owner: owner('s1'), leaseHorizon: '2026-12-05T10:00:30.000Z' };
    expect(release(owned, { operationId: 's1', leaseCap: '2026-12-05T10:02:00.000Z' })).toEqual({ owner: null, leaseHandedTo: null, leaseHorizon: '2026-12-05T10:02:00.000Z' });
    expect(release(owned, { operationId: 'other', leaseCap: '2026-12-05T10:02:00.000Z' })).toBe(owned);
    expect(release(owned, 's1')).toEqual({ owner: null, leaseHandedTo: null, leaseHorizon: '2026-12-05T10:00:30.000Z' }); // a release from before lease caps
    const takeOver = claim(owned, request('f2', { replacing: 's1', replacedLeaseCap: '2026-12-05T10:03:00.000Z' }));
    expect(takeOver.claim).toEqual({ granted: true, leaseHorizon: '2026-12-05T10:03:00.000Z' });
    expect(takeOver.state.owner?.operationId).toBe('f2');
  });
});
