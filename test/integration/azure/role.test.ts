import failoverOperatorRole from '../../../bicep/roles/failover-operator.json';
import { AzureFencing } from '../../../src/adapters/azure/fencing';
import { AzureLoadBalancerPools } from '../../../src/adapters/azure/load-balancer';
import { AzureVmCommands } from '../../../src/adapters/azure/vm-commands';
import { LoadBalancerUpdateError, VmCommandError } from '../../../src/ports/errors';
import { SecretValue } from '../../../src/domain/secret-value';
import { failoverRoleAssignment, worldFromCluster } from '../../../harness/local/azure-emulator';
import { ADMIN_PASSWORD, type Harness, startHarness, testCluster } from './harness';

const ok = `printf 'PGFO_RESULT %s\\n' '{"ok":true}'`;
const roleActions = failoverOperatorRole.permissions.map((p) => p.action);

/** Every call the adapters make on Azure, once: what the app does over a switchover, a failover and a rejoin. */
async function everyAdapterCall(h: Harness): Promise<void> {
  const [pg1, pg2] = h.cluster.nodes;
  const vm = new AzureVmCommands(h.clients, h.options);
  await vm.run(pg1, { script: { name: 'inspect', text: ok }, parameters: {} });
  await vm.runWithSecrets(pg1, { script: { name: 'follow', text: ok }, parameters: {}, secrets: { PGFO_ADMIN_PASSWORD: new SecretValue('pg-admin-password', ADMIN_PASSWORD) } });
  const run = await vm.start(pg1, { script: { name: 'rejoin', text: ok }, runName: 'pgfo-rejoin-role-test', timeoutSeconds: 60 });
  while (!(await vm.poll(pg1, run)).done);

  const pools = new AzureLoadBalancerPools(h.clients, h.cluster.loadBalancer, h.cluster.nodes, h.options);
  await pools.setRole(pg2, 'write');
  await pools.setRole(pg1, 'read');
  await pools.readPools();

  const fencing = new AzureFencing(h.clients, h.options);
  await fencing.powerOff(pg1);
  await fencing.powerOff(pg2, { deallocate: true });
  await fencing.powerState(pg1);
}

/**
 * The deployment grants the app one custom role (bicep/roles/failover-operator.json) instead of
 * Virtual Machine Contributor and Network Contributor. The emulator holds every ARM request to it
 * as ARM does (harness/local/azure-emulator/authorization.ts), so every test proves the role is
 * enough; this one proves it is no more than the adapters use.
 */
describe('the failover role: exactly the actions the adapters call', () => {
  test('a switchover, a failover and a rejoin with NIC-based and with IP-based pools use every action of the role, and nothing else', async () => {
    const used = new Set<string>();
    for (const membership of ['nic', 'ip'] as const) {
      const h = await startHarness(testCluster(membership));
      try {
        await everyAdapterCall(h);
        for (const { action } of h.emulator.record.authorized) used.add(action);
      } finally {
        await h.emulator.stop();
      }
    }
    expect([...used].sort()).toEqual([...roleActions].sort());
  });

  test('an action the role lacks is refused with ARM\'s AuthorizationFailed, naming the action and the scope', async () => {
    const cluster = testCluster('nic');
    const world = worldFromCluster(cluster);
    const h = await startHarness(cluster, {
      world: { ...world, authorization: { ...world.authorization, actions: world.authorization.actions.filter((a) => a !== 'Microsoft.Compute/virtualMachines/runCommand/action') } },
    });
    try {
      const vm = new AzureVmCommands(h.clients, h.options);
      const error = await vm.run(cluster.nodes[0], { script: { name: 'inspect', text: ok }, parameters: {} }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VmCommandError);
      expect((error as Error).message).toMatch(/403 AuthorizationFailed .*'Microsoft\.Compute\/virtualMachines\/runCommand\/action' over scope '.*\/virtualMachines\/pg1\/runCommand'/);
      expect(h.emulator.record.executions).toEqual([]);
    } finally {
      await h.emulator.stop();
    }
  });

  test('a NIC update whose subnet is outside the role\'s scopes is refused with LinkedAuthorizationFailed and changes nothing', async () => {
    const cluster = testCluster('nic');
    const world = worldFromCluster(cluster);
    const h = await startHarness(cluster, { world: { ...world, authorization: failoverRoleAssignment(cluster, []) } });
    try {
      const pools = new AzureLoadBalancerPools(h.clients, cluster.loadBalancer, cluster.nodes, h.options);
      const error = await pools.setRole(cluster.nodes[0], 'write').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadBalancerUpdateError);
      expect((error as Error).message).toMatch(/403 LinkedAuthorizationFailed .*'Microsoft\.Network\/virtualNetworks\/subnets\/join\/action' on the linked scope\(s\) '.*\/subnets\/database'/);
      expect(h.emulator.control.pools()[0].pools['pg-write']).toEqual([]);
    } finally {
      await h.emulator.stop();
    }
  });
});
