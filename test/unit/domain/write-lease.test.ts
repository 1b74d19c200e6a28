import { decideWriteLease } from '../../../src/domain/write-lease';
import { healthyNodes } from './health-support';
import { down as unreachable, primary, view } from '../../support/views';

describe('decideWriteLease (probe mode)', () => {
  it('renews the lease of the one reachable primary that holds it, at its epoch', () => {
    expect(decideWriteLease(view(healthyNodes()), { holder: 'pg1', epoch: 7 }, false)).toEqual({ action: 'renew', node: 'pg1', epoch: 7 });
    // Renewal goes on while an operation runs: it only extends what the operation left in place.
    expect(decideWriteLease(view(healthyNodes()), { holder: 'pg1', epoch: 7 }, true)).toEqual({ action: 'renew', node: 'pg1', epoch: 7 });
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
