import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../harness/lab/lab';
import { connect } from '../../src/adapters/postgres/connect';
import { waitFor } from '../../harness/util/wait';
import { testLabOptions } from '../support/lab';

const BLOCK = '20.1';

function postgresProcessesUnder(stateDir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes(stateDir) && !line.includes('ps -eo'));
}

describe('lab: a real 3-node cluster behind the local load balancer', () => {
  const options = testLabOptions(BLOCK);
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.up(options);
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('reports one primary and two streaming standbys with their lag', async () => {
    const status = await lab.status();
    expect(status.nodes.map((n) => [n.name, n.host, n.role])).toEqual([
      ['pg1', '127.20.1.11', 'primary'],
      ['pg2', '127.20.1.12', 'standby'],
      ['pg3', '127.20.1.13', 'standby'],
    ]);
    expect(status.nodes.filter((n) => n.role === 'standby').every((n) => n.streaming && n.timeline === 1 && typeof n.lagBytes === 'number')).toBe(true);
    expect(status.ilb).toMatchObject({ write: { host: '127.20.1.1', port: 5432 }, read: { host: '127.20.1.2', port: 5432 }, writePool: ['pg1'], readPool: ['pg2', 'pg3'] });

    const [primary] = await lab.inspectAll();
    expect(primary.reachable && primary.role === 'primary' && primary.replication.map((r) => [r.applicationName, r.state])).toEqual([
      ['pg2', 'streaming'],
      ['pg3', 'streaming'],
    ]);
  });

  it('serves TCP only over TLS: plaintext is refused, verify-full passes with the lab CA (node or frontend address) and fails with another CA', async () => {
    const admin = lab.adminEndpoint('pg1');
    await expect(connect({ ...admin, sslMode: 'disable' })).rejects.toThrow(/no pg_hba.conf entry .*no encryption/);
    const encrypted = await connect(admin);
    try {
      expect((await encrypted.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl).toBe(true);
    } finally {
      await encrypted.end();
    }
    await (await connect(lab.appEndpoint('write'))).end();
    const otherCa = readFileSync(join(__dirname, '../fixtures/other-ca.pem'), 'utf8');
    await expect(connect({ ...admin, sslRootCert: otherCa })).rejects.toThrow(/self-signed certificate in certificate chain|unable to verify|unable to get local issuer/);
    // Standbys stream over TLS too (primary_conninfo sslmode=require).
    const replication = await lab.inspectAll();
    expect(replication[0].reachable).toBe(true);
    const client = await connect(admin);
    try {
      const rows = (await client.query<{ ssl: boolean }>('SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)')).rows;
      expect(rows.map((r) => r.ssl)).toEqual([true, true]);
    } finally {
      await client.end();
    }
  });

  it('reads back through the read frontend a row written through the write frontend', async () => {
    const writer = await connect(lab.appEndpoint('write'));
    await writer.query('CREATE TABLE IF NOT EXISTS lab_probe (id serial PRIMARY KEY, note text)');
    const { rows } = await writer.query<{ id: number }>("INSERT INTO lab_probe (note) VALUES ('through the write frontend') RETURNING id");
    await writer.end();

    const seen = await waitFor(
      'the row on a standby',
      async () => {
        const reader = await connect(lab.appEndpoint('read'));
        try {
          const result = await reader.query<{ note: string; standby: boolean }>('SELECT note, pg_is_in_recovery() AS standby FROM lab_probe WHERE id = $1', [rows[0].id]);
          return result.rows[0];
        } finally {
          await reader.end();
        }
      },
      { timeoutMs: 30_000 },
    );
    expect(seen).toEqual({ note: 'through the write frontend', standby: true });
  });

  it('re-routes new connections when the pools change', async () => {
    const serverAddress = async () => {
      const client = await connect(lab.appEndpoint('write'));
      try {
        return (await client.query<{ addr: string }>('SELECT host(inet_server_addr()) AS addr')).rows[0].addr;
      } finally {
        await client.end();
      }
    };
    expect(await serverAddress()).toBe('127.20.1.11');
    await lab.ilb().setPools({ writePool: ['pg3'], readPool: ['pg1', 'pg2'] });
    expect(await serverAddress()).toBe('127.20.1.13');
    await lab.ilb().setPools({ writePool: ['pg1'], readPool: ['pg2', 'pg3'] });
    expect(await serverAddress()).toBe('127.20.1.11');
  });

  it('is idempotent: a second up leaves the one healthy cluster, restarting what was stopped', async () => {
    await lab.server('pg3').stop('fast');
    const again = await Lab.up(options);
    const status = await again.waitUntilHealthy();
    expect(status.nodes.map((n) => [n.name, n.role])).toEqual([
      ['pg1', 'primary'],
      ['pg2', 'standby'],
      ['pg3', 'standby'],
    ]);
    // The same cluster, not a new one: same credentials, and the earlier table is still there.
    expect(again.manifest.credentials).toEqual(lab.manifest.credentials);
    const client = await connect(again.appEndpoint('write'));
    expect((await client.query("SELECT to_regclass('lab_probe') IS NOT NULL AS present")).rows[0].present).toBe(true);
    await client.end();
  });

  it('prints status as JSON through the CLI', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '../../bin/pg-failover.js'), 'lab', 'status', '--json', '--state-dir', options.stateDir!, '--address-block', BLOCK], { encoding: 'utf8' });
    const status = JSON.parse(out);
    expect(status.nodes.map((n: { role: string; streaming: boolean }) => [n.role, n.streaming])).toEqual([
      ['primary', false],
      ['standby', true],
      ['standby', true],
    ]);
    expect(status.connection).toEqual({ user: 'app', password: lab.manifest.credentials.app.password, database: 'appdb' });
  });

  it('down leaves no PostgreSQL process and no state directory behind', async () => {
    expect(postgresProcessesUnder(options.stateDir!).length).toBeGreaterThan(0);
    await Lab.down(options);
    expect(postgresProcessesUnder(options.stateDir!)).toEqual([]);
    expect(existsSync(options.stateDir!)).toBe(false);
    await expect(lab.ilb().health()).rejects.toThrow();
  });
});
