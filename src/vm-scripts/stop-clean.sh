#!/usr/bin/env bash
# stop-clean.sh - switchover step 3: stop the PRIMARY with a fast shutdown and report its shutdown
# checkpoint. A fast shutdown ends the sessions, writes a shutdown checkpoint and sends all WAL
# (that checkpoint included) to the connected standbys before the server exits; the caller then
# waits until the candidate has received WAL past checkpointLsn.
# Idempotent: a server that is already stopped cleanly gets the same report.
# Refuses a standby (standby.signal) before touching it. Reports ok:false unless pg_control says
# "shut down": "in production" after the stop means it crashed (no shutdown checkpoint), "shut
# down in recovery" means it was a standby after all.
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_WAIT_SECONDS]
# Result: alreadyStopped, clusterState ("shut down"), checkpointLsn, redoLsn, redoWalFile, timeline
set -euo pipefail
pgfo_begin stop-clean

step validate
validate_node

step check
if [[ -e $PGFO_DATA_DIR/standby.signal ]]; then
  fail "this node is a standby (standby.signal is present): stop-clean stops a primary; nothing was changed"
fi

step stop
already_stopped=true
if server_running; then
  already_stopped=false
  note "fast shutdown"
  stop_server
fi
if server_running; then fail "the server is still running after the stop"; fi

step controldata
read_controldata
state=${CD['Database cluster state']}
pgfo_fail_fields+=("$(jstr clusterState "$state")")
case $state in
  'shut down') ;;
  'shut down in recovery') fail "this node was a standby (cluster state \"$state\"): stop-clean stops a primary" ;;
  *) fail "the server did not shut down cleanly: cluster state is \"$state\" (a crash or an immediate stop leaves no shutdown checkpoint)" ;;
esac

report_ok \
  "$(jbool alreadyStopped "$already_stopped")" \
  "$(jstr clusterState "$state")" \
  "$(jstr checkpointLsn "${CD['Latest checkpoint location']}")" \
  "$(jstr redoLsn "${CD["Latest checkpoint's REDO location"]}")" \
  "$(jstr redoWalFile "${CD["Latest checkpoint's REDO WAL file"]-}")" \
  "$(jnum timeline "${CD["Latest checkpoint's TimeLineID"]}")"
