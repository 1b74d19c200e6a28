import type { Client } from 'pg';

/**
 * The write lease of probe mode (docs/design.md §9): one row that names the node allowed to serve
 * writes, read by each node's agent. Written only here, on the primary; `expires_at` is computed on
 * that server's clock, so the agent compares it with the same clock. `renewed_at` is when it was
 * last written there: an agent serves no lease written before its postmaster started (the start
 * rule, docs/design.md §9), so a primary that was stopped and is started again never serves its
 * old lease — a failover that saw it stopped need not wait that lease out.
 */
export interface LeaseState {
  holder: string;
  epoch: number;
}

// A table from before the start rule: its row counts as written before any start until rewritten.
const ADD_RENEWED_AT = "ALTER TABLE pgfo.lease ADD COLUMN IF NOT EXISTS renewed_at timestamptz NOT NULL DEFAULT '-infinity'";

const CREATE = [
  'CREATE SCHEMA IF NOT EXISTS pgfo',
  `CREATE TABLE IF NOT EXISTS pgfo.lease (
     singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
     holder text NOT NULL,
     epoch bigint NOT NULL,
     expires_at timestamptz NOT NULL,
     renewed_at timestamptz NOT NULL DEFAULT now()
   )`,
  ADD_RENEWED_AT,
];

/**
 * How long a lease write lasts: ttl from now on the server, and never past `cap` when one is given
 * (a health check's, src/domain/write-lease.ts leaseExpiryCap). `$2` is the ttl, `$3` the cap.
 */
const EXPIRY = 'LEAST(now() + make_interval(secs => $2), $3::timestamptz)';

/** Names `holder` (a new epoch when the holder changes) with a fresh expiry; creates the table on first use. */
export async function grantLease(client: Client, holder: string, ttlSeconds: number, cap: Date | null = null): Promise<LeaseState & { changed: boolean }> {
  return readWrite(client, async () => {
    for (const statement of CREATE) await client.query(statement);
    const { rows } = await client.query<{ epoch: string; changed: boolean }>(
      `WITH before AS (SELECT holder FROM pgfo.lease)
       INSERT INTO pgfo.lease AS l (holder, epoch, expires_at, renewed_at) VALUES ($1, 1, ${EXPIRY}, now())
       ON CONFLICT (singleton) DO UPDATE
         SET holder = EXCLUDED.holder,
             epoch = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END,
             expires_at = EXCLUDED.expires_at,
             renewed_at = EXCLUDED.renewed_at
       RETURNING epoch, (SELECT holder FROM before) IS DISTINCT FROM $1 AS changed`,
      [holder, ttlSeconds, cap],
    );
    return { holder, epoch: Number(rows[0].epoch), changed: rows[0].changed };
  });
}

/** Extends the lease, never past `cap`, only while it still names `holder` at `epoch`; false when it does not (revoked, moved, or no lease). */
export async function renewLease(client: Client, lease: LeaseState, ttlSeconds: number, cap: Date): Promise<boolean> {
  const table = await leaseTable(client);
  if (table === 'none') return false;
  const { rowCount } = await readWrite(client, async () => {
    if (table === 'without-renewed-at') await client.query(ADD_RENEWED_AT);
    return client.query(`UPDATE pgfo.lease SET expires_at = ${EXPIRY}, renewed_at = now() WHERE holder = $1 AND epoch = $4`, [lease.holder, ttlSeconds, cap, lease.epoch]);
  });
  return (rowCount ?? 0) === 1;
}

/** Nobody may serve writes through the load balancer any more; the agents answer /primary 503 at once. */
export async function revokeLease(client: Client): Promise<void> {
  if ((await leaseTable(client)) === 'none') return;
  await readWrite(client, () => client.query(`UPDATE pgfo.lease SET holder = '', expires_at = now()`));
}

/** The lease as this server holds it (a standby: as last replicated), or null when there is none. */
export async function readLease(client: Client): Promise<(LeaseState & { valid: boolean }) | null> {
  if ((await leaseTable(client)) === 'none') return null;
  const { rows } = await client.query<{ holder: string; epoch: string; valid: boolean }>('SELECT holder, epoch, expires_at > clock_timestamp() AS valid FROM pgfo.lease');
  return rows[0] ? { holder: rows[0].holder, epoch: Number(rows[0].epoch), valid: rows[0].valid } : null;
}

async function leaseTable(client: Client): Promise<'none' | 'without-renewed-at' | 'current'> {
  const { rows } = await client.query<{ present: boolean; current: boolean }>(
    `SELECT to_regclass('pgfo.lease') IS NOT NULL AS present,
            EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('pgfo.lease') AND attname = 'renewed_at' AND NOT attisdropped) AS current`,
  );
  if (!rows[0].present) return 'none';
  return rows[0].current ? 'current' : 'without-renewed-at';
}

/**
 * READ WRITE explicitly: a primary whose agent fenced it makes new transactions read-only by
 * default, and the lease write is what lifts the fence.
 */
async function readWrite<T>(client: Client, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN READ WRITE');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
