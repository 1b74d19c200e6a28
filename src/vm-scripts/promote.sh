#!/usr/bin/env bash
# promote.sh - switchover step 5 / failover: promote this standby (pg_ctl promote -w) and check
# that it left recovery. Idempotent: a node that is already a primary reports alreadyPrimary.
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_SSL_MODE PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_WAIT_SECONDS]
# Result: alreadyPrimary, timeline (of the WAL now being written), currentLsn
set -euo pipefail
pgfo_begin promote

step validate
validate_node

step check
server_running || fail "the server is not running: a stopped standby cannot be promoted (start it first)"
wait_ready
already_primary=false
recovery=$(in_recovery)
if [[ $recovery == f ]]; then
  already_primary=true
  note "already a primary"
else
  step promote
  run_pg pg_ctl promote -D "$PGFO_DATA_DIR" -w -t "$PGFO_WAIT_SECONDS" >&2

  step verify
  deadline=$((SECONDS + PGFO_WAIT_SECONDS))
  recovery=$(in_recovery)
  while [[ $recovery != f ]]; do
    ((SECONDS < deadline)) || fail "still in recovery ${PGFO_WAIT_SECONDS}s after pg_ctl promote"
    sleep 0.2
    recovery=$(in_recovery)
  done
fi

step report
row=$(local_sql -c "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, pg_current_wal_lsn()")
IFS='|' read -r timeline lsn <<<"$row"
report_ok "$(jbool alreadyPrimary "$already_primary")" "$(jnum timeline "$timeline")" "$(jstr currentLsn "$lsn")"
