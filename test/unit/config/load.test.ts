import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfigFile, loadConfigFromEnvironment, parseConfig, parseConfigText, findCluster } from '../../../src/config/load';
import { ConfigError } from '../../../src/domain/errors';
import { validConfigDocument } from '../../support/config-fixtures';

type Doc = ReturnType<typeof validConfigDocument>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const cluster = (doc: Doc): any => (doc.clusters as any[])[0];

function problemsOf(mutate: (doc: Doc) => void): { path: string; message: string }[] {
  const doc = validConfigDocument();
  mutate(doc);
  try {
    parseConfig(doc, 'test');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('cluster configuration', () => {
  it('probe mode: agentPort defaults to 8432, and automatic failover stays on (a failover waits out the old lease)', () => {
    const doc = validConfigDocument();
    cluster(doc).loadBalancer.membership = 'probe';
    const orders = findCluster(parseConfig(doc, 'test'), 'orders')!;
    expect(orders.loadBalancer).toMatchObject({ membership: 'probe', agentPort: 8432 });
    expect(orders.policy).toMatchObject({ autoFailover: true, leaseTtlSeconds: 15, leaseWaitMarginSeconds: 5 });
    expect(problemsOf((d) => (cluster(d).policy = { leaseWaitMarginSeconds: -1 }))).toEqual([
      { path: 'clusters[0].policy.leaseWaitMarginSeconds', message: 'leaseWaitMarginSeconds must be 0 or more' },
    ]);
  });

  it('node agent steps: the port defaults to 8433, the key prefix is required, and the agents are trusted by the CA or by pinned certificates', () => {
    const doc = validConfigDocument();
    cluster(doc).nodeAgent = { stepKeySecretPrefix: 'pg-step-key' };
    expect(findCluster(parseConfig(doc, 'test'), 'orders')!.nodeAgent).toEqual({ stepsPort: 8433, stepKeySecretPrefix: 'pg-step-key' });
    expect(findCluster(parseConfig(validConfigDocument(), 'test'), 'orders')!.nodeAgent).toBeUndefined();
    expect(problemsOf((d) => (cluster(d).nodeAgent = {}))).toEqual([{ path: 'clusters[0].nodeAgent.stepKeySecretPrefix', message: expect.stringMatching(/required/) }]);
    expect(
      problemsOf((d) => {
        cluster(d).nodeAgent = { stepKeySecretPrefix: 'pg-step-key' };
        cluster(d).postgres.sslMode = 'require';
        delete cluster(d).postgres.sslRootCertSecret;
      }),
    ).toEqual([{ path: 'clusters[0].nodeAgent', message: expect.stringMatching(/^needs a way to trust the agents: postgres.sslRootCertSecret .* or nodeAgent.certificateSecretPrefix/) }]);
    const pinned = validConfigDocument();
    cluster(pinned).nodeAgent = { stepKeySecretPrefix: 'pg-step-key', certificateSecretPrefix: 'pg-step-cert' };
    cluster(pinned).postgres.sslMode = 'require';
    delete cluster(pinned).postgres.sslRootCertSecret;
    expect(findCluster(parseConfig(pinned, 'test'), 'orders')!.nodeAgent).toEqual({ stepsPort: 8433, stepKeySecretPrefix: 'pg-step-key', certificateSecretPrefix: 'pg-step-cert' });
    expect(problemsOf((d) => (cluster(d).nodeAgent = { stepKeySecretPrefix: 'pg-step-key', certificateSecretPrefix: 'pg step cert' }))).toEqual([
      { path: 'clusters[0].nodeAgent.certificateSecretPrefix', message: expect.stringMatching(/Key Vault secret names/) },
    ]);
  });

  it("gives every node's step key and pinned certificate a Key Vault secret of its own: not another cluster's, not the other kind's, not a password's", () => {
    const twoClusters = (second: Record<string, unknown>) => (d: Doc) => {
      cluster(d).nodeAgent = { stepKeySecretPrefix: 'pg-step-key', certificateSecretPrefix: 'pg-step-cert' };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (d.clusters as any[]).push({ ...structuredClone(cluster(d)), name: 'billing', nodeAgent: second });
    };
    expect(problemsOf(twoClusters({ stepKeySecretPrefix: 'billing-step-key', certificateSecretPrefix: 'pg-step-cert' }))).toEqual(
      ['pg1', 'pg2', 'pg3'].map((node) => ({
        path: 'clusters[1].nodeAgent.certificateSecretPrefix',
        message: `the Key Vault secret "pg-step-cert-${node}" would be both the pinned certificate of node ${node} of cluster orders and the pinned certificate of node ${node} of cluster billing: give each cluster its own prefixes (e.g. "billing-step-key" and "billing-step-cert")`,
      })),
    );
    expect(() => parseConfig((() => { const d = validConfigDocument(); twoClusters({ stepKeySecretPrefix: 'billing-step-key', certificateSecretPrefix: 'billing-step-cert' })(d); return d; })(), 'test')).not.toThrow();
    expect(problemsOf((d) => (cluster(d).nodeAgent = { stepKeySecretPrefix: 'pg-step', certificateSecretPrefix: 'pg-step' })).map((p) => p.path)).toEqual(Array(3).fill('clusters[0].nodeAgent.certificateSecretPrefix'));
    expect(problemsOf((d) => {
      cluster(d).nodeAgent = { stepKeySecretPrefix: 'pg-step-key' };
      cluster(d).postgres.adminPasswordSecret = 'pg-step-key-pg2';
    })).toEqual([{ path: 'clusters[0].nodeAgent.stepKeySecretPrefix', message: expect.stringMatching(/^the Key Vault secret "pg-step-key-pg2" would be both a password or CA secret of cluster orders and the step key of node pg2/) }]);
  });

  it('accepts a valid document and fills in the defaults', () => {
    const config = parseConfig(validConfigDocument(), 'test');
    const orders = findCluster(config, 'orders')!;
    expect(orders.nodes.map((n) => n.name)).toEqual(['pg1', 'pg2', 'pg3']);
    expect(orders.nodes[0]).toMatchObject({ port: 5432, priority: 100, noFailover: false, ipConfigurationName: 'ipconfig1' });
    expect(orders.postgres).toMatchObject({ adminUser: 'postgres', replicationUser: 'replicator', sslMode: 'verify-full', sslRootCertSecret: 'pg-tls-ca', dataDirectory: '/var/lib/postgresql/15/main' });
    expect(orders.policy).toMatchObject({ promoteMethod: 'sql', autoFailover: true, fenceByPowerOff: true, maxLagBytesForFailover: 1048576 });
    expect(orders.policy.health).toEqual({ probeTimeoutMs: 3000, failureThreshold: 2, graceSeconds: 10 });
    expect(findCluster(config, 'nope')).toBeUndefined();
  });

  const badInputs: [string, (doc: Doc) => void, string, RegExp][] = [
    ['missing clusters', (doc) => delete doc.clusters, 'clusters', /required/],
    ['empty clusters', (doc) => (doc.clusters = []), 'clusters', /at least one cluster/],
    ['bad cluster name', (doc) => (cluster(doc).name = 'Orders DB'), 'clusters[0].name', /lower-case letters/],
    ['a single node', (doc) => cluster(doc).nodes.splice(1), 'clusters[0].nodes', /at least 2 nodes/],
    ['duplicate node names', (doc) => (cluster(doc).nodes[2].name = 'pg1'), 'clusters[0].nodes[2].name', /duplicate node name "pg1"/],
    ['duplicate endpoints', (doc) => (cluster(doc).nodes[1].host = '10.0.1.11'), 'clusters[0].nodes[1].host', /10.0.1.11:5432 is also nodes\[0\]/],
    ['port out of range', (doc) => (cluster(doc).nodes[0].port = 70000), 'clusters[0].nodes[0].port', /1-65535/],
    ['port as text', (doc) => (cluster(doc).nodes[0].port = '5432'), 'clusters[0].nodes[0].port', /whole number/],
    ['not a VM resource id', (doc) => (cluster(doc).nodes[1].vmResourceId = 'pg2'), 'clusters[0].nodes[1].vmResourceId', /virtualMachines/],
    ['negative priority', (doc) => (cluster(doc).nodes[0].priority = -1), 'clusters[0].nodes[0].priority', /0 or more/],
    ['unknown field (typo)', (doc) => (cluster(doc).nodes[0].noFailvoer = true), 'clusters[0].nodes[0]', /unknown field "noFailvoer"/],
    ['every node noFailover', (doc) => cluster(doc).nodes.forEach((n: { noFailover: boolean }) => (n.noFailover = true)), 'clusters[0].nodes', /no standby could ever be promoted/],
    ['bad membership', (doc) => (cluster(doc).loadBalancer.membership = 'vm'), 'clusters[0].loadBalancer.membership', /"nic".*"ip"/],
    ['NIC pools without NIC', (doc) => delete cluster(doc).nodes[1].nicResourceId, 'clusters[0].nodes[1].nicResourceId', /required when loadBalancer.membership is "nic"/],
    ['IP pools without VNet', (doc) => (cluster(doc).loadBalancer.membership = 'ip'), 'clusters[0].loadBalancer.virtualNetworkId', /virtual network/],
    ['same write and read pool', (doc) => (cluster(doc).loadBalancer.readPool = 'pg-write'), 'clusters[0].loadBalancer.readPool', /must differ/],
    ['missing secret name', (doc) => delete cluster(doc).postgres.adminPasswordSecret, 'clusters[0].postgres.adminPasswordSecret', /required/],
    ['bad secret name', (doc) => (cluster(doc).postgres.replicationPasswordSecret = 'pg_repl pw'), 'clusters[0].postgres.replicationPasswordSecret', /Key Vault secret name/],
    ['relative data directory', (doc) => (cluster(doc).postgres.dataDirectory = 'data'), 'clusters[0].postgres.dataDirectory', /absolute path/],
    ['verify-full without CA', (doc) => delete cluster(doc).postgres.sslRootCertSecret, 'clusters[0].postgres.sslRootCertSecret', /required when sslMode is verify-full \(the default\): .*CA certificate.*or set sslMode to "require".*or "disable"/],
    ['"prefer", which would mean plaintext', (doc) => (cluster(doc).postgres.sslMode = 'prefer'), 'clusters[0].postgres.sslMode', /"verify-full" \(the default\), "verify-ca", "require" .* or "disable" \(plaintext\)/],
    ['SQL in a role name', (doc) => (cluster(doc).postgres.applicationRoles = ['app; DROP TABLE x']), 'clusters[0].postgres.applicationRoles[0]', /plain PostgreSQL role name/],
    ['bad promote method', (doc) => (cluster(doc).policy = { promoteMethod: 'ssh' }), 'clusters[0].policy.promoteMethod', /"runCommand" or "sql"/],
    ['zero failure threshold', (doc) => (cluster(doc).policy = { health: { failureThreshold: 0 } }), 'clusters[0].policy.health.failureThreshold', /greater than 0/],
    ['duplicate cluster names', (doc) => (doc.clusters as unknown[]).push(cluster(validConfigDocument())), 'clusters[1].name', /duplicate cluster name "orders"/],
  ];

  it.each(badInputs)('rejects %s, naming the field and what is expected', (_kind, mutate, path, message) => {
    const problems = problemsOf(mutate);
    const problem = problems.find((p) => p.path === path);
    expect(problem).toBeDefined();
    expect(problem!.message).toMatch(message);
  });

  it('reports every bad field in one error', () => {
    const problems = problemsOf((doc) => {
      cluster(doc).nodes[0].port = 0;
      cluster(doc).nodes[1].vmResourceId = 'nope';
      cluster(doc).postgres.sslMode = 'always';
    });
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['clusters[0].nodes[0].port', 'clusters[0].nodes[1].vmResourceId', 'clusters[0].postgres.sslMode']),
    );
    const doc = validConfigDocument();
    cluster(doc).nodes[0].port = 0;
    cluster(doc).postgres.sslMode = 'always';
    expect(() => parseConfig(doc, 'app setting X')).toThrow(/Invalid cluster configuration in app setting X \(2 problems\):\n {2}- clusters\[0\]/);
  });

  it('rejects text that is not JSON, saying what the document should be', () => {
    expect(() => parseConfigText('{"clusters": [', 'inline')).toThrow(/not valid JSON .*\{"clusters": \[\.\.\.\]\}/);
  });

  describe('from the app settings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgfo-config-'));
    const file = join(dir, 'clusters.json');

    it('prefers inline JSON, else reads the file', () => {
      writeFileSync(file, JSON.stringify(validConfigDocument()));
      const inline = validConfigDocument();
      cluster(inline).name = 'inline';
      expect(loadConfigFromEnvironment({ PG_FAILOVER_CONFIG: JSON.stringify(inline), PG_FAILOVER_CONFIG_FILE: file }).clusters[0].name).toBe('inline');
      expect(loadConfigFromEnvironment({ PG_FAILOVER_CONFIG_FILE: file }).clusters[0].name).toBe('orders');
    });

    it('says which setting to set when neither is', () => {
      expect(() => loadConfigFromEnvironment({})).toThrow(/set PG_FAILOVER_CONFIG .* or PG_FAILOVER_CONFIG_FILE/);
    });

    it('names a missing file and leaves a bad one untouched', () => {
      expect(() => loadConfigFile(join(dir, 'missing.json'))).toThrow(/cannot read the file \(ENOENT\)/);
      const bad = validConfigDocument();
      cluster(bad).nodes[0].port = -5;
      const text = JSON.stringify(bad);
      writeFileSync(file, text);
      expect(() => loadConfigFile(file)).toThrow(ConfigError);
      expect(readFileSync(file, 'utf8')).toBe(text);
    });
  });
});
