import { parseConfig } from '../../../src/config/load';
import { ClusterConfig } from '../../../src/config/schema';
import { InvalidInputError } from '../../../src/domain/errors';
import { SecretValue } from '../../../src/domain/secret-value';
import {
  followPrimary,
  inspectVm,
  parseFailureResult,
  promote,
  rejoinAsStandby,
  startServer,
  stopCleanly,
  VM_SCRIPT_NAMES,
  vmScriptText,
  VmScriptResultError,
} from '../../../src/vm-scripts/catalogue';
import { validConfigDocument } from '../../support/config-fixtures';

function clusterWith(postgres: Record<string, unknown> = {}, nodeOverrides: Record<string, unknown> = {}): ClusterConfig {
  const doc = validConfigDocument();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const cluster = (doc.clusters as any[])[0];
  Object.assign(cluster.postgres, postgres);
  cluster.nodes[0].overrides = nodeOverrides;
  return parseConfig(doc, 'test').clusters[0];
}

const secrets = () => ({
  replicationPassword: new SecretValue('pg-replication-password', 'repl-s3cret'),
  adminPassword: new SecretValue('pg-admin-password', 'admin-s3cret'),
});

describe('VM script catalogue: parameters', () => {
  it('gives every script the node, its server and how to control it (systemd by default)', () => {
    const cluster = clusterWith();
    const call = stopCleanly(cluster, cluster.nodes[0], null);
    expect(call.parameters).toEqual({
      PGFO_NODE_NAME: 'pg1',
      PGFO_BIN_DIR: '/usr/lib/postgresql/15/bin',
      PGFO_DATA_DIR: '/var/lib/postgresql/15/main',
      PGFO_OS_USER: 'postgres',
      PGFO_CONTROL: 'systemd',
      PGFO_SERVICE: 'postgresql@15-main',
      PGFO_PORT: '5432',
      PGFO_SOCKET_DIR: '/var/run/postgresql',
      PGFO_ADMIN_USER: 'postgres',
      PGFO_WAIT_SECONDS: '60',
      PGFO_SSL_MODE: 'require',
    });
    expect(call).not.toHaveProperty('secrets');
    expect(call.script.name).toBe('stop-clean');
  });

  it("uses the node's overrides of the cluster's paths, and pg_ctl control needs a log file to start", () => {
    const cluster = clusterWith({ control: 'pg_ctl', logFile: '/var/log/pg.log' }, { dataDirectory: '/pgdata/15', socketDirectory: '/run/pg1', passFile: '/home/pg/.pgpass1' });
    const call = startServer(cluster, cluster.nodes[0], { waitSeconds: 30 });
    expect(call.parameters).toMatchObject({ PGFO_CONTROL: 'pg_ctl', PGFO_DATA_DIR: '/pgdata/15', PGFO_SOCKET_DIR: '/run/pg1', PGFO_LOG_FILE: '/var/log/pg.log', PGFO_WAIT_SECONDS: '30' });
    expect(call.parameters).not.toHaveProperty('PGFO_SERVICE');
    // Other nodes keep the cluster's paths.
    expect(inspectVm(cluster, cluster.nodes[1]).parameters.PGFO_DATA_DIR).toBe('/var/lib/postgresql/15/main');

    const noLog = clusterWith({ control: 'pg_ctl' });
    expect(() => startServer(noLog, noLog.nodes[0])).toThrow(InvalidInputError);
    expect(() => startServer(noLog, noLog.nodes[0])).toThrow(/logFile .* is required when postgres.control is "pg_ctl"/);
    expect(() => inspectVm(noLog, noLog.nodes[0])).not.toThrow();
  });

  it('connections between nodes are encrypted unless the cluster turned TLS off (then libpq may still use it)', () => {
    expect(inspectVm(clusterWith(), clusterWith().nodes[0]).parameters.PGFO_SSL_MODE).toBe('require');
    expect(inspectVm(clusterWith({ sslMode: 'require' }), clusterWith().nodes[0]).parameters.PGFO_SSL_MODE).toBe('require');
    const plaintext = clusterWith({ sslMode: 'disable' });
    expect(inspectVm(plaintext, plaintext.nodes[0]).parameters.PGFO_SSL_MODE).toBe('prefer');
  });

  it('follow sends the primary as plain parameters and the replication password only as a secret', () => {
    const cluster = clusterWith();
    const [pg1, pg2] = cluster.nodes;
    const call = followPrimary(cluster, pg1, pg2, secrets());
    expect(call.parameters).toMatchObject({
      PGFO_PRIMARY_HOST: '10.0.1.12',
      PGFO_PRIMARY_PORT: '5432',
      PGFO_REPLICATION_USER: 'replicator',
      PGFO_PASSFILE: '/var/lib/postgresql/.pgpass-failover',
    });
    expect(Object.keys(call.secrets)).toEqual(['PGFO_REPLICATION_PASSWORD']);
    expect(call.secrets.PGFO_REPLICATION_PASSWORD.reveal()).toBe('repl-s3cret');
    expect(JSON.stringify(call)).not.toMatch(/s3cret/);
    expect(() => followPrimary(cluster, pg1, pg1, secrets())).toThrow(/cannot follow itself/);
  });

  it('rejoin needs both secrets, and refuses a secret that would also travel in plain text', () => {
    const cluster = clusterWith();
    const [pg1, pg2] = cluster.nodes;
    const call = rejoinAsStandby(cluster, pg1, pg2, secrets());
    expect(Object.keys(call.secrets).sort()).toEqual(['PGFO_ADMIN_PASSWORD', 'PGFO_REPLICATION_PASSWORD']);
    expect(Object.values(call.parameters).join(' ')).not.toMatch(/s3cret/);
    expect(call.timeoutSeconds).toBe(3600);

    const leaky = { ...secrets(), adminPassword: new SecretValue('pg-admin-password', '10.0.1.12') };
    expect(() => rejoinAsStandby(cluster, pg1, pg2, leaky)).toThrow(/secret PGFO_ADMIN_PASSWORD appears in plain parameter PGFO_PRIMARY_HOST/);
  });

  it('stop-clean names the candidate it restarts as a standby of, and carries no secret (it runs inside the write outage, on the action path)', () => {
    const cluster = clusterWith();
    const [pg1, pg2] = cluster.nodes;
    const call = stopCleanly(cluster, pg1, { primary: pg2 });
    expect(call.parameters).toMatchObject({
      PGFO_NODE_NAME: 'pg1',
      PGFO_PRIMARY_HOST: '10.0.1.12',
      PGFO_PRIMARY_PORT: '5432',
      PGFO_REPLICATION_USER: 'replicator',
      PGFO_PASSFILE: '/var/lib/postgresql/.pgpass-failover',
    });
    expect(call).not.toHaveProperty('secrets');
    expect(() => stopCleanly(cluster, pg1, { primary: pg1 })).toThrow(/cannot follow itself/);
    // Without a candidate: no upstream parameters and no secret.
    const fence = stopCleanly(cluster, pg1, null);
    expect(Object.keys(fence.parameters).filter((name) => name.startsWith('PGFO_PRIMARY_') || name === 'PGFO_PASSFILE')).toEqual([]);
    expect(fence).not.toHaveProperty('secrets');
  });

  it('start sends PGFO_START_AS only when asked to start as the primary', () => {
    const cluster = clusterWith();
    expect(startServer(cluster, cluster.nodes[0]).parameters).not.toHaveProperty('PGFO_START_AS');
    expect(startServer(cluster, cluster.nodes[0], { startAs: 'primary' }).parameters).toMatchObject({ PGFO_START_AS: 'primary' });
  });

  it('validates the wait bound', () => {
    const cluster = clusterWith();
    expect(() => promote(cluster, cluster.nodes[0], { waitSeconds: 0 })).toThrow(/waitSeconds/);
    expect(() => promote(cluster, cluster.nodes[0], { waitSeconds: 1.5 })).toThrow(/waitSeconds/);
    expect(promote(cluster, cluster.nodes[0], { waitSeconds: 10 }).timeoutSeconds).toBeGreaterThan(3 * 10);
  });
});

describe('VM script catalogue: script text', () => {
  it.each(VM_SCRIPT_NAMES)('%s is lib.sh followed by the script, one shebang, strict mode, result marker', (name) => {
    const text = vmScriptText(name);
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text.match(/^#!/gm)).toHaveLength(1);
    expect(text).toContain('set -Eeuo pipefail');
    expect(text).toContain(`# ======================================================================== ${name}.sh`);
    expect(text).toContain(`pgfo_begin ${name}\n`);
    expect(text).toContain('PGFO_RESULT');
    expect(text.indexOf('pgfo_begin() {')).toBeLessThan(text.indexOf(`pgfo_begin ${name}\n`));
  });
});

describe('VM script catalogue: results', () => {
  const cluster = clusterWith();
  const [pg1, pg2] = cluster.nodes;

  it('reads a stop-clean result and rejects one that breaks its promise', () => {
    const call = stopCleanly(cluster, pg1, null);
    const data = {
      ok: true, script: 'stop-clean', node: 'pg1', alreadyStopped: false, clusterState: 'shut down', checkpointLsn: '0/4029398', redoLsn: '0/4029398', redoWalFile: '000000010000000000000004', timeline: 1,
      restartsAs: 'standby', primaryHost: '10.0.1.12', primaryPort: 5432,
    };
    expect(call.parseResult(data)).toEqual(data);
    expect(call.parseResult({ ...data, primaryHost: null, primaryPort: null })).toMatchObject({ primaryHost: null });
    expect(() => call.parseResult({ ...data, checkpointLsn: 'nope' })).toThrow(VmScriptResultError);
    expect(() => call.parseResult({ ...data, clusterState: 'in production' })).toThrow(/clusterState/);
    // S8: a stop that would leave a primary behind breaks the promise.
    expect(() => call.parseResult({ ...data, restartsAs: 'primary' })).toThrow(/restartsAs/);
    expect(() => call.parseResult({ ...data, restartsAs: undefined })).toThrow(/restartsAs/);
  });

  it('reads a rejoin result with its method', () => {
    const call = rejoinAsStandby(cluster, pg1, pg2, secrets());
    const data = {
      ok: true, script: 'rejoin', node: 'pg1', method: 'pg_rewind', alreadyRunning: false, crashRecovery: false,
      rewindCheck: 'servers diverged at WAL location 0/40292D8 on timeline 1', fallbackReason: null,
      keptConfigFiles: ['postgresql.conf'], primaryHost: '10.0.1.12', primaryPort: 5432, senderHost: '10.0.1.12', senderPort: 5432, receivedTimeline: 2, flushedLsn: '0/4000000',
    };
    expect(call.parseResult(data).method).toBe('pg_rewind');
    expect(() => call.parseResult({ ...data, method: 'magic' })).toThrow(/method/);
  });

  it('reads a failure line', () => {
    expect(parseFailureResult({ ok: false, script: 'stop-clean', node: 'pg3', step: 'check', error: 'this node is a standby', clusterState: 'x' })).toEqual({ ok: false, script: 'stop-clean', node: 'pg3', step: 'check', error: 'this node is a standby', clusterState: 'x' });
    expect(parseFailureResult({ ok: true })).toBeUndefined();
  });
});
