import { Client } from 'pg';
import { FailoverError } from '../../domain/errors';
import { readCurrentWal } from './inspect';
import { Lsn, normalizeLsn } from '../../domain/lsn';

/** A node was not in the role a step needs (e.g. draining a standby); nothing was changed. */
export class WrongRoleError extends FailoverError {}

async function assertRole(client: Client, role: 'primary' | 'standby', node: string, step: string): Promise<void> {
  const { rows } = await client.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
  const actual = rows[0].in_recovery ? 'standby' : 'primary';
  if (actual !== role) throw new WrongRoleError(`${node} is a ${actual}; ${step} needs the ${role}`, { node, step });
}

const quoteRole = (client: Client, role: string) => client.escapeIdentifier(role);

/**
 * Drain: CHECKPOINT while still serving (so the shutdown checkpoint that follows is short), pause
 * logins of the application roles, end their sessions. Idempotent; the roles are re-enabled by
 * resumeLogins on whichever node is primary afterwards (the change replicates).
 */
export async function drainApplicationSessions(client: Client, node: string, roles: string[]): Promise<{ endedSessions: number }> {
  await assertRole(client, 'primary', node, 'drain');
  await client.query('CHECKPOINT');
  // All roles or none: a failure part-way must not leave some logins paused behind the abort.
  await inTransaction(client, async () => {
    for (const role of roles) await client.query(`ALTER ROLE ${quoteRole(client, role)} NOLOGIN`);
  });
  const { rows } = await client.query<{ ended: string }>(
    'SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity WHERE usename = ANY($1::text[]) AND pid <> pg_backend_pid()',
    [roles],
  );
  return { endedSessions: Number(rows[0].ended) };
}

async function inTransaction(client: Client, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await work();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Lets the paused application roles log in again; roles that can already log in are left alone, so
 * the usual call writes nothing. A node promoted a moment ago may have no synchronous standby yet:
 * the commit waits for none (synchronous_commit local), or it would hang until the statement
 * timeout; should that primary be lost before the change replicates, the next promotion resumes
 * the logins again.
 */
export async function resumeLogins(client: Client, node: string, roles: string[]): Promise<void> {
  await assertRole(client, 'primary', node, 'resume application logins');
  const { rows } = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[]) AND NOT rolcanlogin', [roles]);
  if (rows.length === 0) return;
  await inTransaction(client, async () => {
    await client.query('SET LOCAL synchronous_commit = local');
    for (const { rolname } of rows) await client.query(`ALTER ROLE ${quoteRole(client, rolname)} LOGIN`);
  });
}

export async function readWalPositions(client: Client): Promise<{ receivedLsn: Lsn | null; replayLsn: Lsn | null; streaming: boolean }> {
  const { rows } = await client.query<{ received: string | null; replayed: string | null; status: string | null }>(
    'SELECT pg_last_wal_receive_lsn()::text AS received, pg_last_wal_replay_lsn()::text AS replayed, (SELECT status FROM pg_stat_wal_receiver) AS status',
  );
  const lsn = (text: string | null) => (text ? normalizeLsn(text) : null);
  return { receivedLsn: lsn(rows[0].received), replayLsn: lsn(rows[0].replayed), streaming: rows[0].status === 'streaming' };
}

/** The SQL path to promotion: pg_promote() waits (up to 60 s) until the node accepts writes. */
export async function promoteWithSql(client: Client, node: string): Promise<{ timeline: number; lsn: Lsn; alreadyPrimary: boolean }> {
  const before = await client.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
  const alreadyPrimary = !before.rows[0].in_recovery;
  if (!alreadyPrimary) {
    const { rows } = await client.query<{ promoted: boolean }>('SELECT pg_promote(true, 60) AS promoted');
    if (!rows[0].promoted) throw new FailoverError(`${node} did not finish promotion within 60 s`, { node, step: 'promote' });
  }
  const { timeline, currentLsn } = await readCurrentWal(client);
  return { timeline, lsn: currentLsn, alreadyPrimary };
}
