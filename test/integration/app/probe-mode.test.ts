import { LocalStack } from '../../../harness/local/stack';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_AGENT_PORT, NodeAgents } from '../../../harness/lab/node-agents';
import { labOsOwner, writeOwnedFile } from '../../../harness/lab/os-owner';
import { vmScriptDigests, vmStepsVersion } from '../../../src/vm-scripts/catalogue';
import { api, startTestStack, vmIdentity } from '../../support/stack';
import { switchoverAndWait, waitForOperation } from '../../support/operations';
import { check } from '../failover/support';

/**
 * Probe mode (docs/design.md §9): every node sits in both pools, each node's agent answers the
 * load balancer's probes, and the writer is the node the write lease names. The health check
 * grants and renews the lease; a switchover moves it over SQL — no ARM call touches a pool. Here
 * the app trusts each agent by its self-signed certificate, pinned in Key Vault
 * (nodeAgent.certificateSecretPrefix; the failover tests trust them through the cluster's CA).
 */
describe('probe mode: the write lease picks the writer, no pool edit', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('67.1', { loadBalancing: 'probe', agentTrust: 'pinned' });
  });


  afterAll(async () => {
    await stack?.stop();
  });

  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
  const hostOf = (name: string) => stack.cluster.nodes.find((n) => n.name === name)!.host;
  /** Nodes the lab's load balancer has probed up, per rule. */
  const probedUp = async () => {
    const probes = (await stack.lab.status()).ilb.probes!;
    const up = (rule: 'write' | 'read') => Object.entries(probes[rule]).filter(([, state]) => state.up).map(([name]) => name).sort();
    return { write: up('write'), read: up('read') };
  };
  /** The VM scripts run through Run Command since the `from`th: the script's name is in the text the catalogue builds. */
  const runCommandsSince = (from: number) => stack.azure.record.executions.slice(from).map((e) => ({ vm: e.vm, script: /# =+ (\S+)\.sh/.exec(e.scriptText)?.[1] }));
  const poolWrites = () => stack.azure.record.requests.filter((r) => r.method !== 'GET' && /networkInterfaces|backendAddressPools/i.test(r.url));

  it('takes no writes before the first lease; the health check grants it to the primary, then the write frontend serves it', async () => {
    expect((await stack.lab.status()).ilb).toMatchObject({ writePool: ['pg1', 'pg2', 'pg3'], readPool: ['pg1', 'pg2', 'pg3'] });
    expect((await probedUp()).write).toEqual([]);
    await check(stack);
    await waitFor('the write rule to probe pg1 up', async () => (await probedUp()).write.join() === 'pg1' || undefined, { timeoutMs: 30_000 });
    expect((await probedUp()).read).toEqual(['pg2', 'pg3']);
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(5);
    const writes = await load.stop();
    expect(new Set(writes.acknowledged.map((c) => c.server))).toEqual(new Set([hostOf('pg1')]));
  });

  it('renews the lease on every check and keeps the writer', async () => {
    const states = [await check(stack), await check(stack)];
    expect(states.map((s) => s.primary?.name)).toEqual(['pg1', 'pg1']);
    expect((await probedUp()).write).toEqual(['pg1']);
  });

  it('switches over under a write load: no lost commit, one writer, no ARM pool write', async () => {
    const [target, old] = ['pg2', 'pg1'];
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const poolWritesBefore = poolWrites().length;
    const runCommandsBefore = stack.azure.record.executions.length;

    const report = await switchoverAndWait(stack, { target });

    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old, newPrimary: target, problems: [] });
    // S1: every acknowledged commit is on the new primary.
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    // S2: once the new primary took a commit, the old one never took another.
    const firstOnNew = writes.acknowledged.findIndex((c) => c.server === hostOf(target));
    expect(firstOnNew).toBeGreaterThan(0);
    expect(writes.acknowledged.slice(firstOnNew).filter((c) => c.server !== hostOf(target))).toEqual([]);
    // The writer moved by the lease alone: no NIC or pool was written through ARM.
    expect(poolWrites().slice(poolWritesBefore)).toEqual([]);
    // Every node step ran on the node's agent, the old primary's rejoin too (started there, polled
    // there), each agent trusted by its own certificate pinned in Key Vault.
    expect(stack.cluster.nodeAgent).toMatchObject({ certificateSecretPrefix: 'pg-step-cert' });
    expect(runCommandsSince(runCommandsBefore)).toEqual([]);
    // S4: every node streams from the new primary; the probes put it alone behind the write frontend.
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([target]);
    await waitFor('the probes to follow the roles', async () => {
      const up = await probedUp();
      return (up.write.join() === target && up.read.join() === ['pg1', 'pg2', 'pg3'].filter((n) => n !== target).join()) || undefined;
    }, { timeoutMs: 30_000 });
  });

  it('fails over on request from a reachable primary: a clean stop, no wait for its lease, the lease moves, no ARM pool write', async () => {
    const old = (await stack.lab.status()).nodes.find((n) => n.role === 'primary')!.name;
    const poolWritesBefore = poolWrites().length;
    const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/failover`, { reason: 'probe mode test' });
    expect(started.status).toBe(202);
    const report = await waitForOperation(stack, String(started.body.operationId));
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old });
    // Stopped cleanly, it restarts only as a standby: there is no lease of its to wait out.
    expect(report.steps.map((s) => s.name)).toEqual(expect.arrayContaining([`stop ${old}`, 'promote candidate']));
    expect(report.steps.map((s) => s.name).filter((n) => /wait out/.test(n))).toEqual([]);
    expect(poolWrites().slice(poolWritesBefore)).toEqual([]);
    await waitFor('the write rule to probe the new primary up', async () => (await probedUp()).write.join() === report.newPrimary || undefined, { timeoutMs: 30_000 });
  });

  it("runs a node's steps through Run Command while its agent is down, and the switchover completes", async () => {
    const nodes = (await stack.lab.waitUntilHealthy()).nodes;
    const old = nodes.find((n) => n.role === 'primary')!.name;
    const [target, bystander] = nodes.filter((n) => n.name !== old).map((n) => n.name);
    const agents = new NodeAgents(stack.lab, { checkSeconds: 0.2, stepsTls: 'self-signed' });
    await agents.stop(bystander);
    const runCommandsBefore = stack.azure.record.executions.length;
    try {
      const report = await switchoverAndWait(stack, { target });
      expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old, newPrimary: target, problems: [] });
      expect(runCommandsSince(runCommandsBefore)).toEqual([{ vm: bystander, script: 'follow' }]);
    } finally {
      await agents.start(bystander);
    }
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([target]);
  });

  it("names an agent left on another release's step scripts in the health check; that node's steps go through Run Command and the switchover completes", async () => {
    const nodes = (await stack.lab.waitUntilHealthy()).nodes;
    const old = nodes.find((n) => n.role === 'primary')!.name;
    const [target, bystander] = nodes.filter((n) => n.name !== old).map((n) => n.name);
    // The digests an agent of another release holds: its follow script differs.
    const node = stack.lab.layout.nodes.find((n) => n.name === bystander)!;
    const otherRelease = join(node.dir, 'vm-scripts.other-release.sha256');
    writeOwnedFile(otherRelease, vmScriptDigests().replace(/^[0-9a-f]{64}(?= {2}follow$)/m, '0'.repeat(64)), labOsOwner(), 0o644);
    const settings = { checkSeconds: 0.2, stepsTls: 'self-signed' } as const;
    const agents = new NodeAgents(stack.lab, { ...settings, settings: { PGFO_STEPS_SCRIPT_DIGESTS: otherRelease } });
    await agents.stop(bystander);
    await agents.start(bystander);
    try {
      await waitFor(`${bystander}'s agent to serve reads again`, async () => (await agents.status(bystander, '/replica')) === 200 || undefined, { timeoutMs: 30_000 });
      expect((await check(stack)).lastCheck).toMatchObject({
        verdict: 'degraded',
        action: null,
        findings: [`${bystander}'s agent runs other step scripts (version ${sha256(readFileSync(otherRelease)).slice(0, 12)}) than this app sends (${vmStepsVersion().slice(0, 12)}): each node step whose script differs on ${bystander} goes through Run Command (about 20 s each on Azure, on a failover's write path); install the agent from this app's release on ${bystander} with its node steps (agent/README.md, "Node steps")`],
      });
      const runCommandsBefore = stack.azure.record.executions.length;
      const report = await switchoverAndWait(stack, { target });
      expect(report).toMatchObject({ outcome: 'completed', oldPrimary: old, newPrimary: target, problems: [] });
      expect(runCommandsSince(runCommandsBefore)).toEqual([{ vm: bystander, script: 'follow' }]);
    } finally {
      await agents.stop(bystander);
      await new NodeAgents(stack.lab, settings).start(bystander);
    }
    await stack.lab.waitUntilHealthy();
    // Both standbys (the old primary, rejoined, and the bystander, restarted) serve reads again.
    await waitFor('every standby to be probed up for reads', async () => (await probedUp()).read.join() === [old, bystander].sort().join() || undefined, { timeoutMs: 30_000 });
    expect((await check(stack)).lastCheck).toMatchObject({ verdict: 'healthy', findings: [] });
  });

  it('drains a standby approved for maintenance: its agent leaves the read rule, stays out through the reboot, and the health check puts it back once the server restarted', async () => {
    const status = await stack.lab.waitUntilHealthy();
    const target = status.nodes.find((n) => n.role === 'standby')!.name;
    const replica = async () => (await fetch(`http://${hostOf(target)}:${NODE_AGENT_PORT}/replica`)).status;
    /** Why its agent answers /replica as it does: the reason of its last replica-probe event. */
    const replicaReason = () => new NodeAgents(stack.lab).events(target).filter((e) => e.event === 'replica-probe').at(-1)?.reason;
    await check(stack);
    await waitFor(`the read rule to probe ${target} up`, async () => (await probedUp()).read.includes(target) || undefined, { timeoutMs: 30_000 });
    const event = {
      EventId: 'C0FFEE00-0000-4000-8000-00000000D0A1',
      EventType: 'Reboot',
      ResourceType: 'VirtualMachine',
      Resources: [target],
      EventStatus: 'Scheduled',
      NotBefore: new Date(Date.now() + 15 * 60_000).toUTCString(),
      Description: 'Virtual machine is going to be restarted as requested by authorized user.',
      EventSource: 'User',
      DurationInSeconds: -1,
    };

    const answer = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/${target}/scheduled-events`, event, vmIdentity(stack, target));

    expect(answer).toMatchObject({ status: 200, body: { verdict: 'approve', detail: expect.stringContaining('taken out of the load balancer pools') } });
    // The approval went out once the node's own agent had stopped answering /replica, drained.
    expect(await replica()).toBe(503);
    expect(replicaReason()).toBe('drained by the app (out of the read pool)');
    await waitFor(`the read rule to probe ${target} down`, async () => !(await probedUp()).read.includes(target) || undefined, { timeoutMs: 30_000 });
    // Held: a health check leaves it out though it streams.
    const held = await check(stack);
    expect(held.maintenanceHolds.map((h) => h.node)).toEqual([target]);
    expect(await replica()).toBe(503);
    // The reboot: the drain survives the restart (it is in the node's postgresql.auto.conf)...
    await stack.lab.server(target).stop();
    await stack.lab.server(target).start();
    await waitFor(`${target}'s agent to see it in recovery again, still drained`, async () => replicaReason() === 'drained by the app (out of the read pool)' && (await replica()) === 503 && (await stack.lab.status()).nodes.find((n) => n.name === target)?.streaming ? true : undefined, { timeoutMs: 60_000 });
    // ...until the health check sees the server started after the approval: the hold ends, the node is put back.
    await waitFor(`the health check to put ${target} back into the read rule`, async () => {
      const state = await check(stack);
      return (state.maintenanceHolds.length === 0 && (await replica()) === 200) || undefined;
    }, { timeoutMs: 60_000 });
    await waitFor(`the read rule to probe ${target} up again`, async () => (await probedUp()).read.includes(target) || undefined, { timeoutMs: 30_000 });
  });
});
