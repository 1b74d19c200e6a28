import { authenticateNode, NodeAuthentication } from '../../../src/app/node-auth';
import type { ClusterConfig, NodeConfig } from '../../../src/config/schema';
import { NodeAuthenticationError } from '../../../src/domain/errors';
import { rejectionOf } from '../../support/rejection';

const vmId = (name: string) => `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`;
const node = { name: 'pg1', vmResourceId: vmId('vm-pg1') } as NodeConfig;
const cluster = { name: 'orders' } as ClusterConfig;
const locate = () => ({ cluster, node });

/** The token's text is `oid` or `oid@vm` (a managed identity's token names its VM); the VM's identity as ARM would answer, with the reads counted. */
function fakeAuth(principals: (string | undefined)[]): NodeAuthentication & { reads: { maxAgeMs?: number }[] } {
  const reads: { maxAgeMs?: number }[] = [];
  return {
    reads,
    verify: async (token) => {
      if (token === 'forged') throw new NodeAuthenticationError('the bearer token was refused: its signature is not by one of the tenant\'s signing keys', 401);
      const [objectId, vm] = token.split('@');
      return { objectId, tenantId: 't', managedIdentityResourceId: vm ? vmId(vm) : null };
    },
    principalOf: async (_id, options = {}) => {
      reads.push(options);
      return principals[Math.min(reads.length - 1, principals.length - 1)];
    },
  };
}

const refusal = (promise: Promise<unknown>) => rejectionOf<NodeAuthenticationError>(promise);

describe('authenticateNode', () => {
  it('accepts the token of the node VM\'s own identity, and names the cluster and node it found', async () => {
    const auth = fakeAuth(['oid-pg1']);
    await expect(authenticateNode('Bearer oid-pg1@vm-pg1', locate, auth)).resolves.toEqual({ cluster, node });
    expect(auth.reads).toEqual([{}]);
  });

  it('refuses a call without a bearer token (401) before looking at the names in the URL', async () => {
    for (const header of [undefined, null, '', 'Basic abc', 'Bearer', 'Bearer a b']) {
      const looked: string[] = [];
      const error = await refusal(authenticateNode(header, () => (looked.push('looked'), locate()), fakeAuth(['oid-pg1'])));
      expect(error).toBeInstanceOf(NodeAuthenticationError);
      expect(error.status).toBe(401);
      expect(error.message).toMatch(/only the node's own VM may call this route: send "Authorization: Bearer <token>"/);
      expect(error.message).not.toMatch(/pg1|orders/);
      expect(looked).toEqual([]);
    }
  });

  it('passes on the verifier\'s refusal before looking up any name', async () => {
    const looked: string[] = [];
    const error = await refusal(authenticateNode('Bearer forged', () => (looked.push('looked'), locate()), fakeAuth(['oid-pg1'])));
    expect(error).toMatchObject({ status: 401 });
    expect(error.message).toMatch(/signature/);
    expect(looked).toEqual([]);
  });

  it('refuses another VM\'s token (403) from its resource id, without reading ARM', async () => {
    const auth = fakeAuth(['oid-pg1']);
    const error = await refusal(authenticateNode('Bearer oid-pg2@vm-pg2', locate, auth));
    expect(error).toMatchObject({ status: 403, message: 'the token is of identity oid-pg2, not of VM vm-pg1: a VM may call only its own node\'s routes', context: { cluster: 'orders', node: 'pg1' } });
    expect(auth.reads).toEqual([]);
  });

  it('refuses another identity (403) after reading the VM\'s identity afresh once', async () => {
    const auth = fakeAuth(['oid-pg1', 'oid-pg1']);
    const error = await refusal(authenticateNode('Bearer oid-other', locate, auth));
    expect(error).toMatchObject({ status: 403 });
    expect(auth.reads).toEqual([{}, { maxAgeMs: 60_000 }]);
  });

  it('accepts a VM whose identity was assigned anew since it was last read', async () => {
    const auth = fakeAuth(['oid-old', 'oid-new']);
    await expect(authenticateNode('Bearer oid-new@vm-pg1', locate, auth)).resolves.toEqual({ cluster, node });
  });

  it('refuses every caller of a VM without a system-assigned identity (403), saying how to give it one', async () => {
    const error = await refusal(authenticateNode('Bearer oid-pg1@vm-pg1', locate, fakeAuth([undefined])));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/VM vm-pg1 of node pg1 has no system-assigned managed identity.*az vm identity assign -g <group> -n vm-pg1/);
  });
});
