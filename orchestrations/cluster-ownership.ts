import * as df from 'durable-functions';
import type { EntityContext } from 'durable-functions';
import { claim, CLUSTER_OWNERSHIP, ClaimRequest, emptyOwnership, handLease, HandLeaseRequest, LeaseRequest, OwnershipState, permitLease, release, ReleaseRequest } from '../src/domain/ownership';

/**
 * The per-cluster ownership record (key: the cluster name) as a Durable entity: its operations run
 * one at a time, so `claim` is an atomic compare-and-set (docs/invariants.md S5). The durable
 * client reads it (`readEntityState`) to tell a trigger which operation owns the cluster. In probe
 * mode it also keeps the write lease's horizon: a health check signals `permitLease` and reads the
 * answer back before it writes a lease, so a claim knows every lease written before it.
 */
df.app.entity(CLUSTER_OWNERSHIP, (context: EntityContext<OwnershipState>) => {
  const state = context.df.getState(emptyOwnership) ?? emptyOwnership();
  switch (context.df.operationName) {
    case 'claim': {
      const result = claim(state, context.df.getInput<ClaimRequest>() as ClaimRequest);
      context.df.setState(result.state);
      context.df.return(result.claim);
      return;
    }
    case 'release':
      context.df.setState(release(state, context.df.getInput<ReleaseRequest | string>() ?? ''));
      return;
    case 'permitLease':
      context.df.setState(permitLease(state, context.df.getInput<LeaseRequest>() as LeaseRequest));
      return;
    case 'handLease':
      context.df.setState(handLease(state, context.df.getInput<HandLeaseRequest>() as HandLeaseRequest));
      return;
    default:
      throw new Error(`the cluster ownership entity has no operation '${context.df.operationName}' (claim, release, permitLease, handLease)`);
  }
});
