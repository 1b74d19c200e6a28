#!/usr/bin/env bash
# stop-clean.sh - switchover step 3: stop the PRIMARY with a fast shutdown and report its shutdown
# checkpoint. A fast shutdown ends the sessions, writes a shutdown checkpoint and sends all WAL
# (that checkpoint included) to the connected standbys before the server exits; the caller then
# waits until the candidate has received WAL past checkpointLsn.
# Reports ok:false unless pg_control says "shut down": "in production" after the stop means it
# crashed (no shutdown checkpoint), "shut down in recovery" means it was a standby after all.
#
# No resurrection (S8): once pg_control says "shut down", the data directory is configured to
# start as a STANDBY (configure_standby in lib.sh: standby.signal, recovery_target_timeline
# 'latest'), so whatever starts it again - a reboot, `systemctl start`, a supervisor - brings back
# a read-only standby, never a second writable primary beside the promoted candidate. With
# PGFO_PRIMARY_HOST (the switchover candidate) it also gets primary_conninfo for it, naming the
# passfile rejoin and follow keep the replication password in: restarted, it streams from the
# candidate (once that passfile holds the password - on any node that ever was a standby) and,
# once the candidate is promoted, follows it onto the new timeline (its shutdown checkpoint is the
# fork point). No secret travels with the stop: it stays on the fast action Run Command path,
# inside the write outage; rejoin writes the password. Without PGFO_PRIMARY_HOST (a fence in a failover, before any candidate is chosen)
# only the primary_conninfo it already has is kept: restarted, it stays read-only, streaming from
# that node or from none, until rejoin points it at the new primary. Only start.sh with
# PGFO_START_AS=primary (the undo of a clean abort) brings it back as the primary.
#
# Idempotent: a node this script already stopped (stopped, standby.signal present, pg_control
# still "shut down" - a primary's clean shutdown; a standby's says "shut down in recovery") gets
# the same report, its configuration written again. A running server with standby.signal, or a
# stopped standby, is refused before anything is touched.
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_SSL_MODE PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_WAIT_SECONDS]
#             [PGFO_PRIMARY_HOST PGFO_PRIMARY_PORT PGFO_REPLICATION_USER PGFO_PASSFILE] (all or none)
# Result: alreadyStopped, clusterState ("shut down"), checkpointLsn, redoLsn, redoWalFile, timeline,
#         restartsAs ("standby"), primaryHost, primaryPort (null without PGFO_PRIMARY_HOST)
set -euo pipefail
pgfo_begin stop-clean

step validate
validate_node
upstream=false
if [[ -n ${PGFO_PRIMARY_HOST-}${PGFO_PRIMARY_PORT-}${PGFO_REPLICATION_USER-}${PGFO_PASSFILE-} ]]; then
  need_host PGFO_PRIMARY_HOST
  need_port PGFO_PRIMARY_PORT
  need_role PGFO_REPLICATION_USER
  need_path PGFO_PASSFILE
  upstream=true
fi

# The shutdown checkpoint as pg_control records it; ok:false unless a primary's clean shutdown.
check_shut_down() {
  read_controldata
  state=${CD['Database cluster state']}
  pgfo_fail_fields+=("$(jstr clusterState "$state")")
  case $state in
    'shut down') ;;
    'shut down in recovery') fail "this node was a standby (cluster state \"$state\"): stop-clean stops a primary" ;;
    *) fail "the server did not shut down cleanly: cluster state is \"$state\" (a crash or an immediate stop leaves no shutdown checkpoint)" ;;
  esac
}

step check
already_stopped=true
if [[ -e $PGFO_DATA_DIR/standby.signal ]]; then
  if server_running; then
    fail "this node is a standby (standby.signal is present and the server runs): stop-clean stops a primary; nothing was changed"
  fi
  read_controldata
  state=${CD['Database cluster state']}
  if [[ $state != 'shut down' ]]; then
    pgfo_fail_fields+=("$(jstr clusterState "$state")")
    fail "this node is a standby (standby.signal is present, cluster state \"$state\"): stop-clean stops a primary; nothing was changed"
  fi
  note "stopped already, with a primary's clean shutdown and standby.signal: stopped by an earlier run"
else
  step stop
  if server_running; then
    already_stopped=false
    note "fast shutdown"
    stop_server
  fi
  if server_running; then fail "the server is still running after the stop"; fi
fi

step controldata
check_shut_down

step configure-standby
if [[ $upstream == true ]]; then
  configure_standby "$PGFO_DATA_DIR"
  note "configured to start as a standby of $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT"
else
  configure_standby "$PGFO_DATA_DIR" keep-conninfo
  note "configured to start as a standby (no new upstream given: primary_conninfo kept as it was)"
fi

primary_host='' primary_port=''
if [[ $upstream == true ]]; then primary_host=$PGFO_PRIMARY_HOST primary_port=$PGFO_PRIMARY_PORT; fi
report_ok \
  "$(jbool alreadyStopped "$already_stopped")" \
  "$(jstr clusterState "$state")" \
  "$(jstr checkpointLsn "${CD['Latest checkpoint location']}")" \
  "$(jstr redoLsn "${CD["Latest checkpoint's REDO location"]}")" \
  "$(jstr redoWalFile "${CD["Latest checkpoint's REDO WAL file"]-}")" \
  "$(jnum timeline "${CD["Latest checkpoint's TimeLineID"]}")" \
  "$(jstr restartsAs standby)" \
  "$(jstr_or_null primaryHost "$primary_host")" \
  "$(jnum primaryPort "$primary_port")"
