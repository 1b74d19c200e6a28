#!/usr/bin/env bash
# follow.sh - switchover step 7: make this RUNNING standby stream from the primary at
# PGFO_PRIMARY_HOST:PGFO_PRIMARY_PORT. Writes the replication password to PGFO_PASSFILE (0600,
# owned by the OS user), sets primary_conninfo with ALTER SYSTEM (reloadable since PostgreSQL 13:
# the WAL receiver restarts with it; recovery_target_timeline 'latest' follows the new timeline),
# reloads, and waits until pg_stat_wal_receiver streams from that host. Idempotent.
# A standby that already replayed past the new primary's fork point can never stream from it;
# that shows as a timeout here and needs rejoin (pg_rewind).
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_SSL_MODE PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_WAIT_SECONDS]
#             PGFO_PRIMARY_HOST PGFO_PRIMARY_PORT PGFO_REPLICATION_USER PGFO_PASSFILE
# Protected:  PGFO_REPLICATION_PASSWORD
# Result: changed (primary_conninfo was different), primaryHost, primaryPort, senderHost,
#         senderPort, receivedTimeline, flushedLsn
set -euo pipefail
pgfo_begin follow

step validate
validate_node
validate_upstream

step check
server_running || fail "the server is not running: follow re-points a running standby (use rejoin for a stopped node)"
wait_ready
recovery=$(in_recovery)
[[ $recovery == t ]] || fail "this node is a primary: a primary cannot follow another one (stop it, then rejoin)"

step passfile
write_replication_passfile

step configure
repoint_running_standby

step wait-streaming
if ! wait_streaming; then
  fail "not streaming from $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT after ${PGFO_WAIT_SECONDS}s (WAL receiver: ${WR_STATUS:-none} ${WR_HOST}); if this standby replayed past the new primary's fork point it needs rejoin (pg_rewind)"
fi

report_ok "$(jbool changed "$CONNINFO_CHANGED")" "$(jstr primaryHost "$PGFO_PRIMARY_HOST")" \
  "$(jnum primaryPort "$PGFO_PRIMARY_PORT")" "$(streaming_fields)"
