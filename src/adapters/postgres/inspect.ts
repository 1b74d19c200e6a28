import { Client } from 'pg';
import { conninfoTarget } from '../../domain/conninfo';
import { Lsn, normalizeLsn } from '../../domain/lsn';
import { NodeInspection, ReplicationConnection, WalReceiverState } from '../../domain/node-state';
import { PgEndpoint, PgTimeouts, withClient } from './connect';

const lsnOrNull = (value: string | null): Lsn | null => (value ? normalizeLsn(value) : null);

/** A primary's write position and timeline (the first 8 hex digits of the current WAL segment's name). */
export async function readCurrentWal(client: Client): Promise<{ timeline: number; currentLsn: Lsn }> {
  const { rows } = await client.query<{ lsn: string; walfile: string }>('SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS walfile');
  return { timeline: parseInt(rows[0].walfile.slice(0, 8), 16), currentLsn: normalizeLsn(rows[0].lsn) };
}

async function readPrimaryState(client: Client) {
  const wal = await readCurrentWal(client);
  const replication = await client.query<{
    application_name: string;
    client_addr: string | null;
    state: string;
    sent_lsn: string | null;
    write_lsn: string | null;
    flush_lsn: string | null;
    replay_lsn: string | null;
    sync_state: string;
  }>(
    'SELECT application_name, client_addr::text, state, sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text, sync_state FROM pg_stat_replication ORDER BY application_name',
  );
  return {
    ...wal,
    replication: replication.rows.map(
      (r): ReplicationConnection => ({
        applicationName: r.application_name,
        clientAddr: r.client_addr,
        state: r.state,
        sentLsn: lsnOrNull(r.sent_lsn),
        writeLsn: lsnOrNull(r.write_lsn),
        flushLsn: lsnOrNull(r.flush_lsn),
        replayLsn: lsnOrNull(r.replay_lsn),
        syncState: r.sync_state,
      }),
    ),
  };
}

async function readStandbyState(client: Client) {
  const { rows } = await client.query<{ received: string | null; replayed: string | null; checkpoint_tli: number }>(
    'SELECT pg_last_wal_receive_lsn()::text AS received, pg_last_wal_replay_lsn()::text AS replayed, (pg_control_checkpoint()).timeline_id AS checkpoint_tli',
  );
  const receiver = await client.query<{
    status: string;
    sender_host: string | null;
    sender_port: number | null;
    flushed_lsn: string | null;
    received_tli: number | null;
    last_msg_receipt_time: Date | null;
  }>('SELECT status, sender_host, sender_port, flushed_lsn::text, received_tli, last_msg_receipt_time FROM pg_stat_wal_receiver');
  const r = receiver.rows[0];
  const walReceiver: WalReceiverState | null = r
    ? {
        status: r.status,
        senderHost: r.sender_host,
        senderPort: r.sender_port,
        flushedLsn: lsnOrNull(r.flushed_lsn),
        receivedTimeline: r.received_tli,
        lastMessageAt: r.last_msg_receipt_time ? r.last_msg_receipt_time.toISOString() : null,
      }
    : null;
  // pg_settings rather than current_setting(): a role that may not read primary_conninfo (it is
  // superuser-only) gets no row instead of an error, and the node still counts as reachable.
  const conninfo = await client.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'");
  const setting = conninfo.rows[0]?.setting;
  return {
    timeline: walReceiver?.receivedTimeline ?? rows[0].checkpoint_tli,
    receivedLsn: lsnOrNull(rows[0].received),
    replayLsn: lsnOrNull(rows[0].replayed),
    walReceiver,
    // Only host and port are kept: the conninfo may hold a password.
    primaryConninfo: setting === undefined ? null : conninfoTarget(setting),
  };
}

/** The node's pg_control system identifier; null when it does not answer. */
export async function readSystemIdentifier(endpoint: PgEndpoint, timeouts?: PgTimeouts): Promise<string | null> {
  try {
    return await withClient(endpoint, async (client) => (await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0].id, timeouts);
  } catch {
    return null;
  }
}

/**
 * One look at a node: its role and WAL positions. An unreachable node is a normal answer
 * (reachable: false with the reason), not an exception — health checks depend on it.
 */
export async function inspectNode(name: string, endpoint: PgEndpoint, timeouts?: PgTimeouts): Promise<NodeInspection> {
  const base = { name, host: endpoint.host, port: endpoint.port };
  try {
    return await withClient(
      endpoint,
      async (client) => {
        const { rows } = await client.query<{ in_recovery: boolean; version: string; started: Date | null; system_identifier: string | null }>(
          "SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') AS version, pg_postmaster_start_time() AS started, (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier",
        );
        const serverVersion = rows[0].version;
        const serverStartedAt = rows[0].started ? rows[0].started.toISOString() : null;
        const systemIdentifier = rows[0].system_identifier;
        if (!rows[0].in_recovery) {
          const primary = await readPrimaryState(client);
          return { ...base, reachable: true, role: 'primary', serverVersion, serverStartedAt, systemIdentifier, ...primary, receivedLsn: null, replayLsn: null, walReceiver: null, primaryConninfo: null };
        }
        const standby = await readStandbyState(client);
        return { ...base, reachable: true, role: 'standby', serverVersion, serverStartedAt, systemIdentifier, ...standby, currentLsn: standby.replayLsn, replication: [] };
      },
      timeouts,
    );
  } catch (error) {
    return { ...base, reachable: false, role: 'unknown', error: (error as Error).message };
  }
}
