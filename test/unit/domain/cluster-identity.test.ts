import { clusterIdentity, identityRefusal } from '../../../src/domain/cluster-identity';
import { down, primary, standby, SYSTEM_IDENTIFIER, view } from '../../support/views';

describe("an operation's database cluster (S9)", () => {
  const foreign = '7443999999999999999';

  it("is the primary's system identifier, else a reachable node's, else unknown", () => {
    expect(clusterIdentity(view([{ ...standby('pg2', 'pg1', '0/1'), systemIdentifier: foreign }, primary('pg1', '0/1'), down('pg3')]))).toBe(SYSTEM_IDENTIFIER);
    expect(clusterIdentity(view([down('pg1'), { ...standby('pg2', 'pg1', '0/1'), systemIdentifier: null }, standby('pg3', 'pg1', '0/1')]))).toBe(SYSTEM_IDENTIFIER);
    expect(clusterIdentity(view([down('pg1'), down('pg2')]))).toBeNull();
  });

  it('refuses a node that holds another one, naming both identifiers; an unknown one is no refusal', () => {
    expect(identityRefusal('pg1', foreign, SYSTEM_IDENTIFIER)).toBe(
      `pg1 holds another database cluster (system identifier ${foreign}) than the one this operation began on (${SYSTEM_IDENTIFIER}): it was rebuilt or initialised again meanwhile, so the operation's decisions no longer apply to it; nothing was done`,
    );
    expect(identityRefusal('pg1', SYSTEM_IDENTIFIER, SYSTEM_IDENTIFIER)).toBeUndefined();
    expect(identityRefusal('pg1', null, SYSTEM_IDENTIFIER)).toBeUndefined();
  });
});
