"""PostgreSQL through psql over the local socket, as the postgres OS user (peer auth, no password)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Optional

from .config import Config
from .decide import END_SESSIONS, FENCE, UNFENCE, Lease, Observation

APPLICATION_NAME = 'pg-failover-node-agent'


class PsqlError(Exception):
    pass


def _look(lease: str) -> str:
    """The one query of a look; `lease` is the lease's JSON or NULL when there is no table."""
    return f"""SELECT json_build_object(
  'inRecovery', pg_is_in_recovery(),
  'readOnly', current_setting('default_transaction_read_only')::boolean,
  'fenceInForce', coalesce((SELECT setting = 'on' AND sourcefile LIKE '%/postgresql.auto.conf'
                            FROM pg_settings WHERE name = 'default_transaction_read_only'), false),
  -- The app drains a standby (maintenance, a fence) with ALTER SYSTEM, which works in recovery.
  'drained', coalesce(current_setting('pgfo.drained', true), '') = 'on',
  'lease', {lease},
  'walReceiverStatus', receiver.status,
  'senderHost', receiver.sender_host,
  'replayLagBytes', CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END,
  -- A standby's timeline is the one it receives; a primary's is in its current WAL file's name.
  'timeline', CASE WHEN pg_is_in_recovery() THEN coalesce(receiver.received_tli, (pg_control_checkpoint()).timeline_id)
                   ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  'otherClientSessions', (SELECT count(*) FROM pg_stat_activity activity JOIN pg_roles role ON role.oid = activity.usesysid
                          WHERE activity.backend_type = 'client backend' AND activity.pid <> pg_backend_pid() AND NOT role.rolsuper)
) FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS receiver ON true;"""


# renewed_at through to_jsonb: a table from before the start rule has no such column (then false).
LEASE_JSON = """(SELECT json_build_object('holder', holder, 'epoch', epoch, 'valid', expires_at > clock_timestamp(),
                                'secondsLeft', extract(epoch FROM expires_at - clock_timestamp()),
                                'sinceStart', coalesce((to_jsonb(l) ->> 'renewed_at')::timestamptz >= pg_postmaster_start_time(), false))
   FROM pgfo.lease AS l WHERE singleton)"""

# psql decides which query runs: a query naming a table that does not exist would not even parse.
LOOK = f"""SELECT to_regclass('pgfo.lease') IS NOT NULL AS lease_table \\gset
\\if :lease_table
{_look(LEASE_JSON)}
\\else
{_look('NULL::json')}
\\endif
"""

# Application sessions: client backends of roles that are not superusers (the app's own admin
# connection and the operators' stay), never the agent's.
END_APPLICATION_SESSIONS = """SELECT count(pg_terminate_backend(activity.pid)) FROM pg_stat_activity activity
  JOIN pg_roles role ON role.oid = activity.usesysid
 WHERE activity.backend_type = 'client backend' AND activity.pid <> pg_backend_pid() AND NOT role.rolsuper;
"""

# Read-only first, so that sessions the clients open again after being ended are read-only.
ACTIONS = {
    FENCE: 'ALTER SYSTEM SET default_transaction_read_only = on;\nSELECT pg_reload_conf() \\g /dev/null\n' + END_APPLICATION_SESSIONS,
    END_SESSIONS: END_APPLICATION_SESSIONS,
    UNFENCE: 'ALTER SYSTEM RESET default_transaction_read_only;\nSELECT pg_reload_conf() \\g /dev/null\n',
}


class Postgres:
    def __init__(self, config: Config):
        self.command = [config.psql, '-X', '-q', '-A', '-t', '-w', '-v', 'ON_ERROR_STOP=1', '-f', '-']
        # A look older than this is not used anyway, so no psql runs longer.
        self.timeout = config.stale_after_seconds
        self.env = dict(os.environ)
        # Through the environment, not -d/-h: a database name is then never read as a connection string.
        self.env.update(
            PGHOST=config.pg_socket_dir,
            PGPORT=str(config.pg_port),
            PGDATABASE=config.pg_database,
            PGAPPNAME=APPLICATION_NAME,
            PGCONNECT_TIMEOUT=str(max(2, int(self.timeout + 0.999))),
            PGOPTIONS=f'-c statement_timeout={int(self.timeout * 1000)} -c lock_timeout={int(self.timeout * 1000)}',
        )

    def run(self, script: str) -> str:
        try:
            done = subprocess.run(self.command, input=script, capture_output=True, text=True, env=self.env, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise PsqlError(f'psql did not finish within {self.timeout:g} s') from None
        except OSError as error:
            raise PsqlError(f'cannot run {self.command[0]}: {error.strerror}') from None
        if done.returncode != 0:
            message = ' '.join(line.strip() for line in done.stderr.splitlines() if line.strip())
            raise PsqlError(message[:300] or f'psql exited with {done.returncode}')
        return done.stdout

    def look(self) -> Observation:
        try:
            output = self.run(LOOK)
        except PsqlError as error:
            return Observation(reachable=False, error=str(error))
        return parse_look(output)

    def perform(self, action: str) -> Optional[int]:
        """Runs one action; returns how many sessions it ended, if it ends sessions."""
        output = self.run(ACTIONS[action]).strip()
        return int(output) if output.isdigit() else None


def parse_look(output: str) -> Observation:
    try:
        return _observation(json.loads(output))
    except (ValueError, KeyError, TypeError):
        return Observation(reachable=False, error=f'unexpected psql output: {output.strip()[:200]}')


def _observation(row: dict) -> Observation:
    lease = row['lease']
    return Observation(
        reachable=True,
        in_recovery=row['inRecovery'],
        read_only=row['readOnly'],
        fence_in_force=row['fenceInForce'],
        drained=row['drained'],
        lease=Lease(holder=lease['holder'], epoch=int(lease['epoch']), valid=lease['valid'], seconds_left=float(lease['secondsLeft']), since_start=lease['sinceStart'])
        if lease
        else None,
        wal_receiver_status=row['walReceiverStatus'],
        sender_host=row['senderHost'],
        replay_lag_bytes=int(row['replayLagBytes']) if row['replayLagBytes'] is not None else None,
        timeline=row['timeline'],
        other_client_sessions=int(row['otherClientSessions']),
    )
