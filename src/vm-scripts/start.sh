#!/usr/bin/env bash
# start.sh - start the server (the undo of stop-clean in a clean abort) and wait until it accepts
# connections on its socket. Idempotent: a running server is only waited for.
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_LOG_FILE (pg_ctl)] [PGFO_WAIT_SECONDS]
# Result: alreadyRunning, role ("primary" | "standby")
set -euo pipefail
pgfo_begin start

step validate
validate_node
validate_start

step start
already_running=true
if ! server_running; then
  already_running=false
  start_server
fi

step wait-ready
wait_ready
recovery=$(in_recovery)
role=primary
[[ $recovery == t ]] && role=standby

report_ok "$(jbool alreadyRunning "$already_running")" "$(jstr role "$role")"
