#!/usr/bin/env bash
# inspect.sh - what the VM knows about its PostgreSQL server without SQL: is it running, what
# does pg_control say (cluster state, latest checkpoint, its REDO location, timeline), and is it
# configured as a standby (standby.signal). Changes nothing.
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_SSL_MODE PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER
# Result: running, serviceActive (systemd only, else null), clusterState, checkpointLsn, redoLsn,
#         redoWalFile, timeline, minRecoveryLsn, minRecoveryTimeline, standbySignal,
#         recoverySignal, systemIdentifier, walLogHints, dataChecksums, pgVersion
set -euo pipefail
pgfo_begin inspect

step validate
validate_node

step status
running=false
if server_running; then running=true; fi
service=null
if [[ $PGFO_CONTROL == systemd ]]; then
  service=false
  if service_active; then service=true; fi
fi

step controldata
read_controldata
standby_signal=false
[[ -e $PGFO_DATA_DIR/standby.signal ]] && standby_signal=true
recovery_signal=false
[[ -e $PGFO_DATA_DIR/recovery.signal ]] && recovery_signal=true
checksums=true
[[ ${CD['Data page checksum version']-0} == 0 ]] && checksums=false

report_ok \
  "$(jbool running "$running")" \
  "\"serviceActive\":$service" \
  "$(jstr clusterState "${CD['Database cluster state']}")" \
  "$(jstr checkpointLsn "${CD['Latest checkpoint location']-}")" \
  "$(jstr redoLsn "${CD["Latest checkpoint's REDO location"]-}")" \
  "$(jstr redoWalFile "${CD["Latest checkpoint's REDO WAL file"]-}")" \
  "$(jnum timeline "${CD["Latest checkpoint's TimeLineID"]-}")" \
  "$(jstr minRecoveryLsn "${CD['Minimum recovery ending location']-}")" \
  "$(jnum minRecoveryTimeline "${CD["Min recovery ending loc's timeline"]-}")" \
  "$(jbool standbySignal "$standby_signal")" \
  "$(jbool recoverySignal "$recovery_signal")" \
  "$(jstr systemIdentifier "${CD['Database system identifier']-}")" \
  "$(jbool walLogHints "$([[ ${CD['wal_log_hints setting']-} == on ]] && echo true || echo false)")" \
  "$(jbool dataChecksums "$checksums")" \
  "$(jstr pgVersion "$(read_file "$PGFO_DATA_DIR/PG_VERSION")")"
