#!/usr/bin/env bash
# rejoin.sh - switchover step 8 / after a failover: turn this STOPPED former primary into a
# standby of the primary at PGFO_PRIMARY_HOST, the cheapest safe way first, and say which:
#   follow         its WAL ends exactly where the new primary's timeline forked off (a clean
#                  switchover): configure it as a standby and start it;
#   pg_rewind      it has WAL the new primary never got (it diverged): rewind it to the fork;
#   pg_basebackup  rewinding is impossible (WAL gone, data directory unusable): re-clone into a
#                  fresh directory, swap it in, remove the old one once the new one streams.
# Then it starts and waits until it streams from the new primary.
# A node stop-clean stopped is already configured as a standby (standby.signal, primary_conninfo of
# the switchover candidate, S8): none of that changes the choice, and configure_standby writes it
# again for PGFO_PRIMARY_HOST. A node that RUNS as a standby is only re-pointed, unless it cannot
# follow from where it is (its WAL went past the fork point): then it is stopped and rejoined.
#
# Why `pg_rewind --dry-run` decides between follow and pg_rewind: it does the exact check a DBA
# would do by hand (read the new primary's timeline history, find where it forked off this
# node's timeline, read this node's last checkpoint record from its own WAL and compare where
# that record ENDS with the fork point) and prints "no rewind required" only when nothing has
# to be undone. Comparing pg_controldata's checkpoint location with the history file ourselves
# would need the record's length (pg_waldump parsing) and the same edge cases pg_rewind already
# handles (standbys: minRecoveryPoint; several timeline switches). A dry run changes nothing.
# pg_rewind takes the source's timeline from pg_control, which a just-promoted primary updates
# only at its next checkpoint, so the primary is CHECKPOINTed first (as Patroni does).
# Any path that does not end streaming falls back to the next one; PostgreSQL itself refuses to
# stream a timeline that forked before its replay position, so a wrong guess cannot corrupt.
#
# Config files kept in the data directory (postgresql.conf, pg_hba.conf, pg_ident.conf, included
# files such as node.conf, postgresql.auto.conf: every top-level *.conf) are the node's own:
# pg_rewind and pg_basebackup would replace them with the primary's copies (wrong
# listen_addresses, for one). They are saved beside the data directory first
# (<data>.pgfo-conf, kept if an interrupted run already saved them) and put back afterwards.
# Files and directories beside or inside the data directory are copied and moved by whoever may
# safely work there (lib.sh, "files in the OS user's reach"); the rejoin lock is taken on the
# directory holding the data directory, opened read-only (lib.sh hold_data_dir_lock).
# A data directory that was not shut down cleanly (crash) gets crash recovery in single-user
# mode first, as pg_rewind and Patroni do.
#
# Parameters: PGFO_NODE_NAME PGFO_BIN_DIR PGFO_DATA_DIR PGFO_OS_USER PGFO_SSL_MODE PGFO_CONTROL [PGFO_SERVICE]
#             PGFO_PORT PGFO_SOCKET_DIR PGFO_ADMIN_USER [PGFO_LOG_FILE (pg_ctl)]
#             [PGFO_WAIT_SECONDS] [PGFO_CONFIG_FILE (postgresql.conf outside the data directory)]
#             PGFO_PRIMARY_HOST PGFO_PRIMARY_PORT PGFO_REPLICATION_USER PGFO_PASSFILE
# Protected:  PGFO_REPLICATION_PASSWORD (kept in PGFO_PASSFILE for streaming and pg_basebackup)
#             PGFO_ADMIN_PASSWORD (a temporary password file for pg_rewind; removed at the end)
# Result: method, alreadyRunning, crashRecovery, rewindCheck (pg_rewind's verdict line), fallbackReason,
#         keptConfigFiles, primaryHost, primaryPort, senderHost, senderPort, receivedTimeline,
#         flushedLsn
set -euo pipefail
pgfo_begin rejoin

step validate
validate_node
validate_start
validate_upstream
need_secret PGFO_ADMIN_PASSWORD pgfo_admin_password
config_file=${PGFO_CONFIG_FILE-}
if [[ -n $config_file ]]; then
  need_path PGFO_CONFIG_FILE
elif [[ ! -f $PGFO_DATA_DIR/postgresql.conf && $PGFO_CONTROL == systemd && $PGFO_SERVICE =~ ^postgresql@([0-9]+)-([A-Za-z0-9_-]+)(\.service)?$ ]]; then
  config_file=/etc/postgresql/${BASH_REMATCH[1]}/${BASH_REMATCH[2]}/postgresql.conf # Debian layout
fi

conf_save=$PGFO_DATA_DIR.pgfo-conf
kept_files=()
method=''
crash_recovery=false
rewind_check=''
fallback_reason=''

# psql / pg_rewind connection to the new primary as the admin role (password from the temporary
# password file; statement_timeout off so a cluster-wide default cannot cut pg_rewind short).
# shellcheck disable=SC2154 # pgfo_admin_passfile is set by write_admin_passfile (lib.sh)
primary_dsn() {
  printf 'host=%s port=%s user=%s dbname=postgres passfile=%s connect_timeout=10 sslmode=%s options=-cstatement_timeout=0' \
    "$PGFO_PRIMARY_HOST" "$PGFO_PRIMARY_PORT" "$PGFO_ADMIN_USER" "$pgfo_admin_passfile" "$PGFO_SSL_MODE"
}
primary_sql() { run_pg psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$(primary_dsn)" "$@"; }

save_config_files() {
  local file
  if [[ -d $conf_save ]] && compgen -G "$conf_save/*.conf" >/dev/null; then
    note "keeping the configuration an earlier, interrupted run saved in $conf_save"
  else
    run_cmd in_dir "$(dirname -- "$conf_save")" mkdir -p -- "$conf_save"
    for file in "$PGFO_DATA_DIR"/*.conf; do
      if [[ -f $file ]]; then copy_file "$file" "$conf_save/${file##*/}"; fi
    done
  fi
  for file in "$conf_save"/*.conf; do
    if [[ -f $file ]]; then kept_files+=("${file##*/}"); fi
  done
  note "saved: ${kept_files[*]:-nothing (configuration lives outside the data directory)}"
}

restore_config_files() { # restore_config_files DIR
  local file
  for file in "$conf_save"/*.conf; do
    if [[ -f $file ]]; then copy_file "$file" "$1/${file##*/}"; fi
  done
}

# start_standby: start, then wait until streaming from the primary; 1 when it does not get there.
start_standby() {
  start_server || return 1
  wait_streaming
}

stop_quietly() {
  if server_running; then stop_server || run_pg pg_ctl stop -D "$PGFO_DATA_DIR" -m immediate -w >&2 || true; fi
  tool_error >/dev/null
}

# Crash recovery in single-user mode: leaves a clean shutdown checkpoint (standby mode is not
# allowed there, so the signal files go; configure_standby writes standby.signal again).
ensure_clean_shutdown() {
  local options=(-c archive_mode=on -c archive_command=false)
  [[ -z $config_file ]] || options+=(-c "config_file=$config_file")
  rm -f "$PGFO_DATA_DIR/standby.signal" "$PGFO_DATA_DIR/recovery.signal"
  run_pg postgres --single -F -D "$PGFO_DATA_DIR" "${options[@]}" template1 </dev/null >&2
}

# The last line of TEXT containing one of pg_rewind's verdicts.
rewind_verdict() {
  local line verdict=''
  while IFS= read -r line; do
    case $line in *'no rewind required'* | *'servers diverged at'* | *'same timeline'*) verdict=${line#pg_rewind: } ;; esac
  done <<<"$1"
  printf '%s' "$verdict"
}

report_rejoined() { # report_rejoined ALREADY_RUNNING
  local files='' file
  for file in "${kept_files[@]}"; do files+="${files:+,}\"$(json_escape "$file")\""; done
  report_ok "$(jstr method "$method")" "$(jbool alreadyRunning "$1")" "$(jbool crashRecovery "$crash_recovery")" \
    "$(jstr_or_null rewindCheck "$rewind_check")" "$(jstr_or_null fallbackReason "$(clip "$fallback_reason")")" \
    "\"keptConfigFiles\":[$files]" \
    "$(jstr primaryHost "$PGFO_PRIMARY_HOST")" "$(jnum primaryPort "$PGFO_PRIMARY_PORT")" "$(streaming_fields)"
}

step lock
# One rejoin per data directory at a time: a retried or timed-out Run Command must not start a
# second copy that deletes the first one's clone or interleaves its directory swaps.
hold_data_dir_lock || fail "another rejoin of $PGFO_DATA_DIR is still running; wait for it to finish"

step check-node
if server_running; then
  # Only a running STANDBY is accepted: a re-run after success, or one that just needs re-pointing.
  wait_ready
  recovery=$(in_recovery)
  [[ $recovery == t ]] || fail "this node is running as a primary: rejoin never touches a running primary (stop it first)"
  step passfile
  write_replication_passfile
  step configure
  repoint_running_standby
  step wait-streaming
  if wait_streaming; then
    method=follow
    report_rejoined true
    exit 0
  fi
  not_streaming="running as a standby but not streaming from $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT after ${PGFO_WAIT_SECONDS}s (WAL receiver: ${WR_STATUS:-none}${WR_HOST:+ from $WR_HOST}${WR_TLI:+ on timeline $WR_TLI})"
  # A former primary that stop-clean left configured as a standby (S8) and something restarted
  # before its rejoin cannot follow when its WAL went past the new primary's fork point (a
  # failover that accepted loss, a fenced second writer): replay never undoes WAL, so its WAL
  # receiver cannot even start. Stopped, it takes the paths below (pg_rewind accepts a standby's
  # clean shutdown). Only then, though: a standby that streams from the primary on the old
  # timeline is still catching up, and one that cannot reach the primary's replication at all
  # would not get further stopped - both are left running.
  if [[ $WR_STATUS == streaming && $WR_HOST == "$PGFO_PRIMARY_HOST" && $WR_PORT == "$PGFO_PRIMARY_PORT" ]]; then
    fail "$not_streaming: it still streams the timeline before the promotion (catching up); try again later"
  fi
  [[ -n $(upstream_timeline) ]] || fail "$not_streaming, and $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT does not answer a replication connection as $PGFO_REPLICATION_USER"
  fallback_reason="$not_streaming: the primary answers, so it cannot follow from where it is; stopped to rejoin it"
  note "$fallback_reason"
  step stop-standby
  stop_server
  if server_running; then fail "the standby is still running after the stop"; fi
fi

step passfiles
write_replication_passfile
write_admin_passfile

step check-primary
recovery=$(primary_sql -c 'SELECT pg_is_in_recovery()')
[[ $recovery == f ]] || fail "$PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT is in recovery: rejoin needs the new primary"
primary_sql -c CHECKPOINT >/dev/null
row=$(primary_sql -c "SELECT timeline_id, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, (SELECT system_identifier FROM pg_control_system()) FROM pg_control_checkpoint()")
IFS='|' read -r control_tli wal_tli primary_sysid <<<"$row"
[[ $control_tli == "$wal_tli" ]] || fail "the primary's pg_control says timeline $control_tli while it writes timeline $wal_tli: its checkpoint did not complete"

step controldata
state=''
if run_pg pg_controldata -D "$PGFO_DATA_DIR" >/dev/null; then
  read_controldata
  sysid=${CD['Database system identifier']-}
  [[ $sysid == "$primary_sysid" ]] || fail "this data directory belongs to another database system (identifier $sysid, the primary's is $primary_sysid): refusing to replace it"
  state=${CD['Database cluster state']}
else
  fallback_reason="pg_controldata cannot read the data directory: $(tool_error)"
  method=pg_basebackup
fi

step save-config
save_config_files

if [[ -n $state && $state != 'shut down' && $state != 'shut down in recovery' ]]; then
  step crash-recovery
  note "cluster state \"$state\": crash recovery in single-user mode"
  crash_recovery=true
  if ! ensure_clean_shutdown; then
    fallback_reason="crash recovery failed: $(tool_error)"
    method=pg_basebackup
  fi
  # Single-user mode needed the signal files gone; put them back at once, whatever it did (S8).
  configure_standby "$PGFO_DATA_DIR"
fi

# A stopped STANDBY that replayed past a timeline switch after its last restartpoint (a former
# primary stop-clean configured as a standby, restarted, following the promoted candidate, stopped
# again): pg_rewind before PostgreSQL 16 takes its timeline from that restartpoint, sees a
# divergence that is not there and fails on the WAL it looks for. Its WAL already is the new
# primary's history, so it is simply started as a standby first (a standby writes no WAL: trying
# cannot make anything worse); the usual decision follows only if it does not stream.
started=false
if [[ -z $method && -z $fallback_reason && $state == 'shut down in recovery' ]] &&
  ((10#${CD["Min recovery ending loc's timeline"]:-0} > 10#${CD["Latest checkpoint's TimeLineID"]:-0})); then
  step follow-standby
  note "a stopped standby that replayed timeline ${CD["Min recovery ending loc's timeline"]} after its last restartpoint (timeline ${CD["Latest checkpoint's TimeLineID"]}): starting it as a standby first"
  configure_standby "$PGFO_DATA_DIR"
  if start_standby; then
    method=follow
    started=true
  else
    fallback_reason="started as a standby, it did not stream from $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT within ${PGFO_WAIT_SECONDS}s (WAL receiver: ${WR_STATUS:-none}) $(tool_error)"
    note "$fallback_reason"
    stop_quietly
  fi
fi

if [[ -z $method ]]; then
  step decide
  if out=$(run_pg pg_rewind --dry-run -D "$PGFO_DATA_DIR" --source-server "$(primary_dsn)" 2>&1); then
    if [[ $out == *'no rewind required'* ]]; then method=follow; else method=pg_rewind; fi
  else
    fallback_reason="pg_rewind --dry-run: $(tool_error)"
    method=pg_basebackup
  fi
  printf '%s\n' "$out" >&2
  rewind_check=$(rewind_verdict "$out")
  note "decision: $method${rewind_check:+ ($rewind_check)}"
fi

if [[ $method == pg_rewind ]]; then
  step pg_rewind
  if run_pg pg_rewind -D "$PGFO_DATA_DIR" --source-server "$(primary_dsn)" >&2; then
    restore_config_files "$PGFO_DATA_DIR"
  else
    fallback_reason="pg_rewind: $(tool_error)"
    method=pg_basebackup
  fi
  # pg_rewind removes files the source lacks, standby.signal among them: write it again at once,
  # also after a failed rewind, so that a re-clone that takes an hour never leaves a primary (S8).
  configure_standby "$PGFO_DATA_DIR"
fi

if [[ $started == false && ($method == follow || $method == pg_rewind) ]]; then
  step start-standby
  configure_standby "$PGFO_DATA_DIR"
  if ! start_standby; then
    fallback_reason="$method: the server did not stream from $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT within ${PGFO_WAIT_SECONDS}s (WAL receiver: ${WR_STATUS:-none}) $(tool_error)"
    note "$fallback_reason"
    stop_quietly
    method=pg_basebackup
  fi
fi

if [[ $method == pg_basebackup ]]; then
  step pg_basebackup
  new=$PGFO_DATA_DIR.pgfo-new
  old=$PGFO_DATA_DIR.pgfo-old
  parent=$(dirname -- "$PGFO_DATA_DIR")
  if command -v mountpoint >/dev/null && mountpoint -q "$PGFO_DATA_DIR"; then
    fail "cannot re-clone: $PGFO_DATA_DIR is a mount point, so a fresh copy cannot be swapped in beside it (${fallback_reason:-no other method left})"
  fi
  rm -rf "$new"
  run_pg pg_basebackup -d "$(standby_conninfo)" -D "$new" -X stream -c fast --no-password >&2
  restore_config_files "$new"
  configure_standby "$new"

  step swap
  rm -rf "$old" # only a leftover of a run that finished its swap but not its cleanup
  run_cmd in_dir "$parent" mv -T -- "$PGFO_DATA_DIR" "$old"
  run_cmd in_dir "$parent" mv -T -- "$new" "$PGFO_DATA_DIR"

  step start-standby
  if ! start_standby; then
    reason="the re-cloned data directory did not stream from $PGFO_PRIMARY_HOST:$PGFO_PRIMARY_PORT (WAL receiver: ${WR_STATUS:-none}) $(tool_error)"
    stop_quietly
    rm -rf "$PGFO_DATA_DIR.pgfo-failed"
    run_cmd in_dir "$parent" mv -T -- "$PGFO_DATA_DIR" "$PGFO_DATA_DIR.pgfo-failed"
    configure_standby "$old" # the directory put back must not start as a primary either (S8)
    run_cmd in_dir "$parent" mv -T -- "$old" "$PGFO_DATA_DIR"
    pgfo_fail_fields+=("$(jstr method "$method")" "$(jstr_or_null fallbackReason "$(clip "$fallback_reason")")")
    fail "$reason; the previous data directory is back in place, the clone is kept in $PGFO_DATA_DIR.pgfo-failed"
  fi
  step cleanup
  rm -rf "$old"
fi

rm -rf "$conf_save"
report_rejoined false
