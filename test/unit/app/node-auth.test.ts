import { authenticateNode, NodeAuthentication } from '../../../src/app/node-auth';
import type { ClusterConfig, NodeConfig } from '../../../src/config/schema';
import { NodeAuthenticationError } from '../../../src/domain/errors';

const vmId = (name: string) => `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`;
const node = { name: 'pg1', vmResourceId: vmId('vm-pg1') } as NodeConfig;
const cluster = { name: 'orders' } as ClusterConfig;

/** The token's subject is its text; the VM's identity as ARM would answer, with a count of reads. */
function fakeAuth(principals: (string | undefined)[]): NodeAuthentication & { reads: { maxAgeMs?: number }[] } {
  const reads: { maxAgeMs?: number }[] = [];
  return {
    reads,
    verify: async (token) => {
      if (token === 'forged') throw new NodeAuthenticationError('the bearer token was refused: its signature is not by one of the tenant\'s signing keys', 401);
      return { objectId: token, tenantId: 't' };
    },
    principalOf: async (_id, options = {}) => {
      reads.push(options);
      return principals[Math.min(reads.length - 1, principals.length - 1)];
    },
  };
}

const refusal = async (promise: Promise<void>) => {
  try {
    await promise;
  } catch (error) {
    return error as NodeAuthenticationError;
  }
  throw new Error('expected a refusal');
};

describe('authenticateNode', () => {
  it('accepts the token of the node VM\'s own identity', async () => {
    const auth = fakeAuth(['oid-pg1']);
    await expect(authenticateNode('Bearer oid-pg1', cluster, node, auth)).resolves.toBeUndefined();
    expect(auth.reads).toEqual([{}]);
  });

  it('refuses a call without a bearer token (401), naming what to send', async () => {
    for (const header of [undefined, null, '', 'Basic abc', 'Bearer', 'Bearer a b']) {
      const error = await refusal(authenticateNode(header, cluster, node, fakeAuth(['oid-pg1'])));
      expect(error).toBeInstanceOf(NodeAuthenticationError);
      expect(error.status).toBe(401);
      expect(error.message).toMatch(/only node pg1's VM \(vm-pg1\) may call this route: send "Authorization: Bearer <token>"/);
      expect(error.context).toEqual({ cluster: 'orders', node: 'pg1' });
    }
  });

  it('passes on the verifier\'s refusal with the cluster and node', async () => {
    const error = await refusal(authenticateNode('Bearer forged', cluster, node, fakeAuth(['oid-pg1'])));
    expect(error).toMatchObject({ status: 401, context: { cluster: 'orders', node: 'pg1' } });
    expect(error.message).toMatch(/signature/);
  });

  it('refuses another identity (403) after reading the VM\'s identity afresh once', async () => {
    const auth = fakeAuth(['oid-pg1', 'oid-pg1']);
    const error = await refusal(authenticateNode('Bearer oid-pg2', cluster, node, auth));
    expect(error).toMatchObject({ status: 403, message: 'the token is of identity oid-pg2, not of VM vm-pg1: a VM may call only its own node\'s routes' });
    expect(auth.reads).toEqual([{}, { maxAgeMs: 60_000 }]);
  });

  it('accepts a VM whose identity was assigned anew since it was last read', async () => {
    const auth = fakeAuth(['oid-old', 'oid-new']);
    await expect(authenticateNode('Bearer oid-new', cluster, node, auth)).resolves.toBeUndefined();
  });

  it('refuses every caller of a VM without a system-assigned identity (403), saying how to give it one', async () => {
    const error = await refusal(authenticateNode('Bearer oid-pg1', cluster, node, fakeAuth([undefined])));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/VM vm-pg1 of node pg1 has no system-assigned managed identity.*az vm identity assign -g <group> -n vm-pg1/);
  });
});
