import { Socket } from 'node:net';
import { Lab } from '../../harness/lab/lab';
import { isSilenced, unsilenceNode } from '../../harness/lab/network-silence';
import { waitFor } from '../../harness/util/wait';
import { connect } from '../../src/adapters/postgres/connect';
import { testLabOptions } from '../support/lab';

const BLOCK = '75.1';

/** How a TCP connection attempt to host:port ends within `ms`: connected, refused, or no answer. */
function dial(host: string, port: number, ms: number): Promise<'connected' | 'refused' | 'no answer'> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (outcome: 'connected' | 'refused' | 'no answer') => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(ms, () => done('no answer'));
    socket.once('connect', () => done('connected'));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : 'no answer'));
    socket.connect(port, host);
  });
}

/**
 * docs/azure-platform.md §20: a VM that is off, or vanished, is silent. Its peers hear no close
 * and no reset: a standby keeps "streaming" from a vanished primary until wal_receiver_timeout,
 * a primary keeps a vanished standby's stream until wal_sender_timeout; a new connection gets no
 * answer. A process killed on a VM that stays up closes its connections at once (the contrast).
 */
describe('lab: a vanished VM is silent', () => {
  const options = testLabOptions(BLOCK);
  let lab: Lab;

  const sql = async <T extends Record<string, unknown>>(node: string, text: string): Promise<T[]> => {
    const client = await connect(lab.adminEndpoint(node));
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  };
  const setting = async (node: string, name: string, value: string) => {
    await sql(node, `ALTER SYSTEM SET ${name} = '${value}'`);
    await sql(node, 'SELECT pg_reload_conf()');
    await waitFor(`${node}'s ${name} to be ${value}`, async () => (await sql<{ v: string }>(node, `SELECT current_setting('${name}') AS v`).then((rows) => rows[0].v === value)) || undefined, { timeoutMs: 30_000 });
  };
  const receiverStatus = async (node: string) => (await sql<{ status: string }>(node, 'SELECT status FROM pg_stat_wal_receiver'))[0]?.status ?? 'none';
  const sendersTo = async (primary: string) => (await sql<{ name: string }>(primary, 'SELECT application_name AS name FROM pg_stat_replication ORDER BY 1')).map((r) => r.name);
  const boot = async (node: string) => {
    unsilenceNode(lab.server(node).node.host);
    await lab.server(node).start();
  };

  beforeAll(async () => {
    lab = await Lab.up(options);
  });

  afterAll(async () => {
    await Lab.down(options);
  });

  it('a vanished primary: no answer to a new connection, and its standby streams on until its own wal_receiver_timeout', async () => {
    await setting('pg2', 'wal_receiver_timeout', '0');
    const primary = lab.server('pg1').node;
    await lab.vanish('pg1');
    expect(isSilenced(primary.host)).toBe(true);
    expect(await dial(primary.host, primary.port, 1500)).toBe('no answer');
    // Without a timeout of its own the standby cannot tell: nothing closed its stream.
    expect(await receiverStatus('pg2')).toBe('streaming');

    await setting('pg2', 'wal_receiver_timeout', '5s');
    await waitFor("pg2's stream from the vanished pg1 to time out", async () => (await receiverStatus('pg2')) !== 'streaming' || undefined, { timeoutMs: 60_000 });

    await boot('pg1');
    expect(isSilenced(primary.host)).toBe(false);
    await waitFor('pg2 to stream from pg1 again', async () => (await receiverStatus('pg2')) === 'streaming' || undefined, { timeoutMs: 60_000 });
  });

  it("a vanished standby: its primary keeps the stream until wal_sender_timeout; a killed server on a live VM is dropped at once", async () => {
    await setting('pg1', 'wal_sender_timeout', '0');
    await waitFor('pg1 to send to pg2 and pg3', async () => (await sendersTo('pg1')).join() === 'pg2,pg3' || undefined, { timeoutMs: 60_000 });
    const standby = lab.server('pg3').node;
    await lab.vanish('pg3');
    expect(await dial(standby.host, standby.port, 1500)).toBe('no answer');
    expect(await sendersTo('pg1')).toEqual(['pg2', 'pg3']);

    await setting('pg1', 'wal_sender_timeout', '2s');
    await waitFor("pg1's stream to the vanished pg3 to time out", async () => (await sendersTo('pg1')).join() === 'pg2' || undefined, { timeoutMs: 60_000 });
    await boot('pg3');
    await waitFor('pg1 to send to pg3 again', async () => (await sendersTo('pg1')).join() === 'pg2,pg3' || undefined, { timeoutMs: 60_000 });

    // The contrast: kill -9 on a VM that stays up. Its kernel closes the stream, and its port refuses.
    await setting('pg1', 'wal_sender_timeout', '0');
    await lab.server('pg3').kill();
    expect(await dial(standby.host, standby.port, 1500)).toBe('refused');
    await waitFor('pg1 to drop the killed pg3 at once (no timeout is set)', async () => (await sendersTo('pg1')).join() === 'pg2' || undefined, { timeoutMs: 30_000 });
    await setting('pg1', 'wal_sender_timeout', '10s');
    await lab.server('pg3').start();
  });
});
