import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { readOperation } from '../../../src/app/operations';

describe('reading an operation by cluster and id', () => {
  // What the Durable client answers for one stored instance (the operation's input names its cluster).
  const clientWith = (instanceId: string, cluster: string): DurableClient =>
    ({
      getStatus: async (id: string) => {
        if (id !== instanceId) throw new Error(`instance ${id} not found`);
        return { instanceId, runtimeStatus: 'Running', createdTime: new Date('2026-12-05T01:00:00Z'), input: { operationId: instanceId, kind: 'switchover', cluster: { name: cluster } }, customStatus: null } as unknown as DurableOrchestrationStatus;
      },
    }) as unknown as DurableClient;

  it("answers only under the operation's own cluster, not under a cluster whose name is a prefix of it or of its id", async () => {
    const client = clientWith('orders-eu-switchover-20261205T010000Z-abcdef', 'orders-eu');
    expect(await readOperation(client, 'orders-eu', 'orders-eu-switchover-20261205T010000Z-abcdef')).toMatchObject({ outcome: 'running', cluster: 'orders-eu' });
    expect(await readOperation(client, 'orders', 'orders-eu-switchover-20261205T010000Z-abcdef')).toBeUndefined();
    expect(await readOperation(client, 'orders-eu', 'no-such-operation')).toBeUndefined();
  });
});
