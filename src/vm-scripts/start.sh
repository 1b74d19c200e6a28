#!/usr/bin/env bash
# start.sh - start the server (the undo of stop-clean in a clean abort) and wait until it accepts
# connections on its socket. Idempotent: a running server is only waited for.
#
# Without PGFO_START_AS the server starts as its data directory is configured: after stop-clean
# that is as a standby (S8: standby.signal), read-only.
# PGFO_START_AS=primary (the undo of stop-clean when a switchover or failover rolls back): it must
# come back as the primary it was. The standby.signal stop-clean left is removed first, but only
# when pg_control shows a primary's clean shutdown ("shut down"): nothing has been replayed since
# that shutdown checkpoint, so the data directory is exactly what the primary left. A node that
# has run in recovery since ("shut down in recovery", "in archive recovery": restarted as a
# standby, it may have followed another timeline) is refused, nothing changed: making it a
# primary again is an operator's decision. A server already running must be a primary; a running
# standby is refused (this script never promotes).
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_SSL_MODE PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_LOG_FILE (pg_ctl)] [PGFO_WAIT_SECONDS]
#             [PGFO_START_AS ("primary")]
# Result: alreadyRunning, role ("primary" | "standby"), standbySignalRemoved
set -euo pipefail
pgfo_begin start

step validate
validate_node
validate_start
start_as=${PGFO_START_AS-}
if [[ -n $start_as ]]; then need_match PGFO_START_AS '^primary$' '"primary" (or unset: start as configured)'; fi

step start
already_running=true
signal_removed=false
if ! server_running; then
  already_running=false
  if [[ $start_as == primary && -e $PGFO_DATA_DIR/standby.signal ]]; then
    step start-as-primary
    read_controldata
    state=${CD['Database cluster state']}
    if [[ $state != 'shut down' ]]; then
      pgfo_fail_fields+=("$(jstr clusterState "$state")")
      fail "PGFO_START_AS=primary: standby.signal is present and the cluster state is \"$state\", not a primary's clean shutdown (\"shut down\"): it has run as a standby since stop-clean; nothing was changed"
    fi
    note "a primary's clean shutdown (checkpoint ${CD['Latest checkpoint location']-?}): removing the standby.signal stop-clean wrote"
    rm -f "$PGFO_DATA_DIR/standby.signal"
    as_os_user sync -- "$PGFO_DATA_DIR"
    signal_removed=true
    step start
  fi
  start_server
fi

step wait-ready
wait_ready
recovery=$(in_recovery)
role=primary
[[ $recovery == t ]] && role=standby
if [[ $start_as == primary && $role != primary ]]; then
  pgfo_fail_fields+=("$(jbool alreadyRunning "$already_running")" "$(jstr role "$role")")
  what='it was already running; nothing was changed'
  [[ $already_running == true ]] || what='it started in recovery as its data directory is configured (recovery.signal?)'
  fail "PGFO_START_AS=primary, but the server runs as a standby (in recovery): start never promotes; $what"
fi

report_ok "$(jbool alreadyRunning "$already_running")" "$(jstr role "$role")" "$(jbool standbySignalRemoved "$signal_removed")"
