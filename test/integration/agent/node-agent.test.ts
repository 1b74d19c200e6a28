import { grantLease, renewLease } from '../../../src/adapters/postgres/lease';
import { Client } from 'pg';
import { Lab } from '../../../harness/lab/lab';
import { NodeAgents, stopNodeAgents } from '../../../harness/lab/node-agents';
import { waitFor } from '../../../harness/util/wait';
import { connect, PgEndpoint } from '../../../src/adapters/postgres/connect';
import { testLabOptions } from '../../support/lab';
import { vmStepsVersion } from '../../../src/vm-scripts/catalogue';

const BLOCK = '66.1';
const WAIT = { timeoutMs: 30_000 };

/**
 * The node agent (agent/node-agent.py) on each node of a real 3-node lab, as the postgres OS
 * user over the local socket, peers = the other two: the load balancer's probes follow the
 * lease, a lapsed lease is carried by the failsafe while every standby streams from the primary,
 * and the primary fences itself (probe, sessions, writes) when one peer cannot confirm it.
 */
describe('node agent: probes, lease, failsafe and fence on a real cluster', () => {
  const options = testLabOptions(BLOCK);
  let lab: Lab;
  let agents: NodeAgents;
  /** Superuser sessions on each node: the app's admin connection, which a fence never ends. */
  const admin: Record<string, Client> = {};

  beforeAll(async () => {
    lab = await Lab.up(options);
    for (const node of ['pg1', 'pg2', 'pg3']) admin[node] = await connect(lab.adminEndpoint(node));
    // The table as the app creates it (src/adapters/postgres/lease.ts), revoked until a test grants it.
    await grantLease(admin.pg1, '', 3600);
    const app = await connect(appOn('pg1'));
    await app.query('CREATE TABLE IF NOT EXISTS writes (id serial PRIMARY KEY, note text)');
    await app.end();
    agents = await NodeAgents.start(lab, { checkSeconds: 0.2, peerTimeoutSeconds: 1 });
  });

  afterAll(async () => {
    for (const client of Object.values(admin)) await client.end().catch(() => undefined);
    if (lab) await stopNodeAgents(lab.layout);
    await Lab.down(options);
  });

  /** The application's login, straight to one node (not through the load balancer). */
  const appOn = (node: string): PgEndpoint => {
    const { host, port } = lab.server(node).node;
    return { ...lab.appEndpoint('write'), host, port };
  };

  /**
   * The lease as the app writes it: on the primary, `expires_at` from the primary's own clock.
   * READ WRITE explicitly: on a fenced primary new transactions are read-only by default.
   */
  async function setLease(holder: string, validFor: string): Promise<void> {
    await admin.pg1.query('BEGIN READ WRITE');
    await admin.pg1.query(
      `INSERT INTO pgfo.lease (holder, epoch, expires_at, renewed_at) VALUES ($1, 1, now() + $2::interval, now())
       ON CONFLICT (singleton) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, renewed_at = excluded.renewed_at,
         epoch = pgfo.lease.epoch + (pgfo.lease.holder <> excluded.holder)::int`,
      [holder, validFor],
    );
    await admin.pg1.query('COMMIT');
  }

  const probes = async () => ({
    primary: await Promise.all(['pg1', 'pg2', 'pg3'].map((n) => agents.status(n, '/primary'))),
    replica: await Promise.all(['pg1', 'pg2', 'pg3'].map((n) => agents.status(n, '/replica'))),
  });

  /** Sessions opened so far on `node`'s postgres database: each look of its agent is one psql session. */
  async function sessions(node: string): Promise<number> {
    const { rows } = await admin[node].query<{ sessions: string }>("SELECT sessions FROM pg_stat_database WHERE datname = 'postgres'");
    return Number(rows[0].sessions);
  }

  /** Every answer of `probe` while `node`'s agent takes `looks` more looks (no sleeping: its own sessions count the looks). */
  async function answersOverLooks<T>(node: string, looks: number, probe: () => Promise<T>): Promise<T[]> {
    const answers: T[] = [];
    const start = await sessions(node);
    await waitFor(`${looks} looks of ${node}'s agent`, async () => {
      answers.push(await probe());
      return (await sessions(node)) >= start + looks;
    }, WAIT);
    answers.push(await probe());
    return answers;
  }

  const events = (node: string, name: string) => agents.events(node).filter((e) => e.event === name);

  it('a valid lease for the primary: exactly one node answers /primary 200, the two standbys /replica 200', async () => {
    await setLease('pg1', '1 hour');
    const expected = { primary: [200, 503, 503], replica: [503, 200, 200] };
    await waitFor('the probes to follow the lease', async () => JSON.stringify(await probes()) === JSON.stringify(expected), WAIT);
    // What the primary's failsafe asks: both standbys stream from its address.
    const { host } = lab.server('pg1').node;
    expect(await agents.peerView('pg2')).toEqual({ node: 'pg2', inRecovery: true, streaming: true, upstreamHost: host, timeline: 1 });
    expect(await agents.peerView('pg3')).toEqual({ node: 'pg3', inRecovery: true, streaming: true, upstreamHost: host, timeline: 1 });
    expect(await agents.peerView('pg1')).toEqual({ node: 'pg1', inRecovery: false, streaming: false, upstreamHost: null, timeline: 1 });
  });

  it('answers the probes with empty bodies and the version of its step scripts; HEAD like GET; other paths 404, other methods 405', async () => {
    const url = `http://${agents.address('pg1')}`;
    const get = await fetch(`${url}/primary`);
    expect([get.status, await get.text()]).toEqual([200, '']);
    const replica = await fetch(`${url}/replica`);
    expect([replica.status, await replica.text()]).toEqual([503, '']);
    // The one header: the version of the step scripts it runs, as the app computes its own.
    expect([get.headers.get('x-pgfo-steps'), replica.headers.get('x-pgfo-steps')]).toEqual([vmStepsVersion(), vmStepsVersion()]);
    expect(await agents.status('pg1', '/primary', 'HEAD')).toBe(200);
    expect(await agents.status('pg2', '/replica', 'HEAD')).toBe(200);
    expect(await agents.status('pg1', '/')).toBe(404);
    expect(await agents.status('pg1', '/primary/x')).toBe(404);
    expect(await agents.status('pg1', '/primary', 'POST')).toBe(405);
    expect(await agents.status('pg1', '/peer', 'DELETE')).toBe(405);
  });

  it('a revoked lease (holder \'\'): the primary answers 503 within a few looks, without failsafe or fence', async () => {
    await setLease('', '1 hour');
    await waitFor('pg1 /primary 503', async () => (await agents.status('pg1', '/primary')) === 503, WAIT);
    expect(events('pg1', 'primary-probe').at(-1)).toMatchObject({ healthy: false, reason: 'lease revoked' });
    await setLease('pg1', '1 hour');
    await waitFor('pg1 /primary 200 again', async () => (await agents.status('pg1', '/primary')) === 200, WAIT);
    expect(events('pg1', 'failsafe-entered')).toEqual([]);
    expect(events('pg1', 'fenced')).toEqual([]);
  });

  it('a lapsed lease while both peers stream from the primary: the failsafe keeps /primary 200', async () => {
    await setLease('pg1', '-1 second');
    await waitFor('pg1 to enter the failsafe', () => events('pg1', 'failsafe-entered').length === 1, WAIT);
    const answers = await answersOverLooks('pg1', 5, () => agents.status('pg1', '/primary'));
    expect(new Set(answers)).toEqual(new Set([200]));
    expect(events('pg1', 'fenced')).toEqual([]);
  });

  it('one peer\'s agent gone: the primary fences itself — /primary 503, application sessions end, new writes refused', async () => {
    const session = await connect(appOn('pg1'));
    await session.query("INSERT INTO writes (note) VALUES ('before the fence')");

    await agents.stop('pg3');

    await waitFor('pg1 /primary 503', async () => (await agents.status('pg1', '/primary')) === 503, WAIT);
    const { rows } = await admin.pg1.query<{ epoch: string }>('SELECT epoch FROM pgfo.lease');
    expect(events('pg1', 'fenced')).toEqual([expect.objectContaining({ epoch: Number(rows[0].epoch), peers: { pg3: 'no answer' } })]);
    await waitFor('the application session on pg1 to be ended', () => session.query('SELECT 1').then(() => false, () => true), WAIT);
    await session.end().catch(() => undefined);
    const fresh = await connect(appOn('pg1'));
    try {
      await expect(fresh.query("INSERT INTO writes (note) VALUES ('fenced')")).rejects.toThrow(/read-only transaction/);
    } finally {
      await fresh.end();
    }
    // The fence holds while the lease stays lapsed: logged once, /primary never 200.
    const answers = await answersOverLooks('pg1', 5, () => agents.status('pg1', '/primary'));
    expect(new Set(answers)).toEqual(new Set([503]));
    expect(events('pg1', 'fenced')).toHaveLength(1);
    expect(events('pg1', 'sessions-ended').length).toBeGreaterThanOrEqual(1);
  });

  it('the lease renewed: unfenced, then /primary 200 and writes work again', async () => {
    await setLease('pg1', '1 hour');
    await waitFor('pg1 /primary 200', async () => (await agents.status('pg1', '/primary')) === 200, WAIT);
    expect(events('pg1', 'unfenced')).toHaveLength(1);
    const fresh = await connect(appOn('pg1'));
    try {
      await fresh.query("INSERT INTO writes (note) VALUES ('after the renewal')");
    } finally {
      await fresh.end();
    }
    await agents.start('pg3');
    expect(await agents.status('pg3', '/replica')).toBe(200);
  });

  it('a standby never answers /primary 200, even with a valid lease naming it (it is in recovery)', async () => {
    await setLease('pg2', '1 hour');
    await waitFor('pg1 /primary 503', async () => (await agents.status('pg1', '/primary')) === 503, WAIT);
    await waitFor('pg2 to replay the lease naming it', async () => {
      const { rows } = await admin.pg2.query<{ holder: string }>('SELECT holder FROM pgfo.lease');
      return rows[0]?.holder === 'pg2';
    }, WAIT);
    const answers = await answersOverLooks('pg2', 5, async () => `/primary ${await agents.status('pg2', '/primary')}, /replica ${await agents.status('pg2', '/replica')}`);
    expect(new Set(answers)).toEqual(new Set(['/primary 503, /replica 200']));
    expect(events('pg2', 'primary-probe').at(-1)).toMatchObject({ reason: 'in recovery' });
  });

  it('a lease the app writes never lasts past its cap (a failover waits out the cap, not the server\'s clock)', async () => {
    const expiry = async () => (await admin.pg1.query<{ left: number }>('SELECT extract(epoch FROM expires_at - clock_timestamp())::float8 AS left FROM pgfo.lease')).rows[0].left;
    const soon = () => new Date(Date.now() + 60_000);
    const granted = await grantLease(admin.pg1, 'pg1', 3600, soon());
    expect(await expiry()).toBeLessThanOrEqual(60);
    expect(await renewLease(admin.pg1, granted, 3600, soon())).toBe(true);
    expect(await expiry()).toBeLessThanOrEqual(60);
    // Without a cap (an operation's grant), and a cap beyond the ttl: the ttl.
    await grantLease(admin.pg1, 'pg1', 120);
    expect(await expiry()).toBeGreaterThan(60);
    expect(await renewLease(admin.pg1, granted, 30, new Date(Date.now() + 3_600_000))).toBe(true);
    expect(await expiry()).toBeLessThanOrEqual(30);
  });

  it('the start rule: the primary crashed and started again within its lease is fenced, even with every standby streaming from it, until the app writes the lease again', async () => {
    const granted = await grantLease(admin.pg1, 'pg1', 3600);
    await waitFor('pg1 /primary 200', async () => (await agents.status('pg1', '/primary')) === 200, WAIT);
    const fencesBefore = events('pg1', 'fenced').length;

    await lab.server('pg1').kill();
    await lab.server('pg1').start();
    await admin.pg1.end().catch(() => undefined);
    admin.pg1 = await connect(lab.adminEndpoint('pg1'));
    const { host } = lab.server('pg1').node;
    await waitFor('both standbys to stream from pg1 again', async () => {
      const views = await Promise.all(['pg2', 'pg3'].map((n) => agents.peerView(n).catch(() => undefined)));
      return views.every((v) => v?.streaming && v.upstreamHost === host);
    }, WAIT);

    // The lease names pg1 for an hour more, the peers would confirm it: still 503, fenced, writes refused.
    const answers = await answersOverLooks('pg1', 5, () => agents.status('pg1', '/primary'));
    expect(new Set(answers)).toEqual(new Set([503]));
    expect(events('pg1', 'fenced').slice(fencesBefore)).toEqual([expect.objectContaining({ reason: 'PostgreSQL started after its lease was last written' })]);
    expect(events('pg1', 'primary-probe').at(-1)).toMatchObject({ healthy: false, reason: 'lease written before this start' });
    const fresh = await connect(appOn('pg1'));
    try {
      await expect(fresh.query("INSERT INTO writes (note) VALUES ('restarted')")).rejects.toThrow(/read-only transaction/);
    } finally {
      await fresh.end();
    }

    // The health check's renewal is written after the start: served again.
    expect(await renewLease(admin.pg1, granted, 3600, new Date(Date.now() + 60_000))).toBe(true);
    await waitFor('pg1 /primary 200', async () => (await agents.status('pg1', '/primary')) === 200, WAIT);
  });

  it('the start rule on a lease table from before it (no renewed_at): not served until the app renews it, which adds the column', async () => {
    await admin.pg1.query('ALTER TABLE pgfo.lease DROP COLUMN renewed_at');
    await waitFor('pg1 /primary 503', async () => (await agents.status('pg1', '/primary')) === 503, WAIT);
    const lease = (await admin.pg1.query<{ epoch: string }>('SELECT epoch FROM pgfo.lease')).rows[0];
    expect(await renewLease(admin.pg1, { holder: 'pg1', epoch: Number(lease.epoch) }, 3600, new Date(Date.now() + 60_000))).toBe(true);
    await waitFor('pg1 /primary 200', async () => (await agents.status('pg1', '/primary')) === 200, WAIT);
  });
});
