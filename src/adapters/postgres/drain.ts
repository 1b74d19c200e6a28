import type { Client } from 'pg';

/**
 * Probe mode's read pool is what each standby's agent answers on /replica (docs/design.md §9): to
 * take a standby out — planned maintenance, the undo of a failed promotion — the app sets
 * `pgfo.drained = on` on that node itself, and its agent answers 503 until the app resets it.
 * ALTER SYSTEM writes only the node's postgresql.auto.conf, so it works on a standby in recovery
 * and survives the node's restart (a maintenance reboot keeps it out); the health check resets it
 * when it puts the node back, and a lease grant when the node becomes the writer. (A writable node
 * taken out — a fence, the old primary of a switchover — loses its lease instead.)
 */
const SETTING = 'pgfo.drained';

/** Whether the node is drained now, as its agent reads it (a new session sees it after the reload). */
async function isDrained(client: Client): Promise<boolean> {
  const { rows } = await client.query<{ drained: boolean }>(`SELECT coalesce(current_setting('${SETTING}', true), '') = 'on' AS drained`);
  return rows[0].drained;
}

/** Drains the node (`on`) or puts it back (`off`); false when it already was so (nothing written). */
export async function setDrained(client: Client, on: boolean): Promise<boolean> {
  if ((await isDrained(client)) === on) return false;
  if (on) {
    // PostgreSQL 15 takes ALTER SYSTEM for a custom setting only once the session knows its name.
    await client.query(`SET ${SETTING} = 'off'`);
    await client.query(`ALTER SYSTEM SET ${SETTING} = 'on'`);
  } else {
    await client.query(`ALTER SYSTEM RESET ${SETTING}`);
  }
  await client.query('SELECT pg_reload_conf()');
  return true;
}
