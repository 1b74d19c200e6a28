#!/usr/bin/env bash
# lib.sh - helpers shared by the pg-failover VM scripts.
#
# Run Command sends ONE script text, so the catalogue (src/vm-scripts/catalogue.ts) sends this
# file followed by one script (inspect.sh, stop-clean.sh, ...). The rules every script follows:
#   - every input is a PGFO_* environment variable (Run Command exports plain and protected
#     parameters alike), validated before anything changes, always quoted;
#   - PostgreSQL programs run as the OS user that owns the data directory (runuser when root);
#   - the LAST line on stdout is the result, whatever happens:
#       PGFO_RESULT {"ok":true,"script":"...",...}
#       PGFO_RESULT {"ok":false,"script":"...","step":"...","error":"..."}
#     Progress notes and the programs' own output go to stderr;
#   - secrets (PGFO_REPLICATION_PASSWORD, PGFO_ADMIN_PASSWORD) are taken out of the environment
#     at once, never printed, never put on a command line or into a child's environment: they
#     reach PostgreSQL only through 0600 password files.
set -Eeuo pipefail
shopt -s inherit_errexit
umask 077
export LC_ALL=C LANG=C # pg_controldata and friends print translated labels otherwise
cd /                   # the OS user may not be allowed into the caller's directory

pgfo_script=unknown
pgfo_step=start
pgfo_reported=0
pgfo_tmp=''
pgfo_admin_passfile=''
pgfo_fail_fields=()
pgfo_error=''
pgfo_replication_password=''
pgfo_admin_password=''

# ---------------------------------------------------------------- start, result, errors

# pgfo_begin NAME: the first call of every script. Takes the secrets out of the environment,
# drops PG* variables that would override our connection settings, installs the traps.
pgfo_begin() {
  pgfo_script=$1
  pgfo_replication_password=${PGFO_REPLICATION_PASSWORD-}
  pgfo_admin_password=${PGFO_ADMIN_PASSWORD-}
  unset PGFO_REPLICATION_PASSWORD PGFO_ADMIN_PASSWORD
  local var
  for var in $(compgen -e); do
    if [[ $var == PG* && $var != PGFO_* ]]; then unset "$var"; fi
  done
  trap 'pgfo_on_err "$?" "$LINENO" "$BASH_COMMAND"' ERR
  trap pgfo_on_exit EXIT
  pgfo_tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgfo-$1.XXXXXX")
  note "begin on ${HOSTNAME:-this VM} as $(id -un)"
}

note() { printf '%(%H:%M:%S)T pgfo %s [%s] %s\n' -1 "$pgfo_script" "$pgfo_step" "$*" >&2; }

step() {
  pgfo_step=$1
  note "step"
}

# fail MESSAGE: report ok:false for the current step and stop. Extra result fields made with
# jstr/jnum/jbool may be added to pgfo_fail_fields first (top level only, not in a $(...)).
fail() {
  pgfo_error=$*
  if [[ -n $pgfo_tmp ]]; then printf '%s' "$*" >"$pgfo_tmp/error"; fi
  exit 1
}

# ERR trap: remembers the first (innermost) unexpected failure; the EXIT trap reports it.
# BASH_COMMAND is the unexpanded command text, so no secret value can appear in it.
pgfo_on_err() {
  local rc=$1 line=$2 cmd=$3
  [[ -n $pgfo_tmp && ! -e $pgfo_tmp/error ]] || return 0
  if [[ -e $pgfo_tmp/tool-error ]]; then
    cp "$pgfo_tmp/tool-error" "$pgfo_tmp/error"
  else
    printf '"%s" exited with %s (line %s)' "$cmd" "$rc" "$line" >"$pgfo_tmp/error"
  fi
}

pgfo_on_exit() {
  local rc=$? error
  trap - ERR
  set +e
  [[ -n $pgfo_admin_passfile ]] && rm -f "$pgfo_admin_passfile"
  if ((pgfo_reported == 0)); then
    if [[ -n $pgfo_tmp && -s $pgfo_tmp/error ]]; then
      error=$(clip "$(<"$pgfo_tmp/error")")
    elif [[ -n $pgfo_error ]]; then
      error=$(clip "$pgfo_error")
    elif ((rc == 0)); then
      error='the script ended without reporting a result'
    else
      error="the script exited with status $rc"
    fi
    note "FAILED: $error"
    local body
    body="\"ok\":false,$(jstr script "$pgfo_script"),$(jstr node "${PGFO_NODE_NAME-}"),$(jstr step "$pgfo_step"),$(jstr error "$error")"
    local field
    for field in "${pgfo_fail_fields[@]}"; do body+=",$field"; done
    printf 'PGFO_RESULT {%s}\n' "$body"
    ((rc != 0)) || rc=1
  fi
  [[ -n $pgfo_tmp ]] && rm -rf "$pgfo_tmp"
  exit "$rc"
}

# report_ok FIELD...: the success line; each FIELD is a "name":value pair from jstr/jnum/...
report_ok() {
  local body field
  body="\"ok\":true,$(jstr script "$pgfo_script"),$(jstr node "${PGFO_NODE_NAME-}")"
  for field in "$@"; do body+=",$field"; done
  pgfo_reported=1
  note "done"
  printf 'PGFO_RESULT {%s}\n' "$body"
}

# clip TEXT: at most 1000 characters, so the result line survives Run Command's 4 KB output tail.
clip() { if ((${#1} > 1000)); then printf '%s...' "${1:0:1000}"; else printf '%s' "$1"; fi; }

# JSON without jq (it may be absent on the VM).
json_escape() {
  local s=$1 out='' c i
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  if [[ $s == *[$'\001'-$'\037']* ]]; then
    for ((i = 0; i < ${#s}; i++)); do
      c=${s:i:1}
      if [[ $c == [$'\001'-$'\037'] ]]; then printf -v c '\\u%04x' "'$c"; fi
      out+=$c
    done
    s=$out
  fi
  printf '%s' "$s"
}
jstr() { printf '"%s":"%s"' "$1" "$(json_escape "$2")"; }
# jstr_or_null NAME VALUE: null when VALUE is empty
jstr_or_null() { if [[ -n $2 ]]; then jstr "$1" "$2"; else printf '"%s":null' "$1"; fi; }
# jnum NAME VALUE: null unless VALUE is a whole number
jnum() { if [[ $2 =~ ^-?[0-9]+$ ]]; then printf '"%s":%s' "$1" "$((10#$2))"; else printf '"%s":null' "$1"; fi; }
# jbool NAME VALUE: VALUE is true/false (or t/f as psql prints booleans)
jbool() {
  case $2 in
    true | t) printf '"%s":true' "$1" ;;
    false | f) printf '"%s":false' "$1" ;;
    *) printf '"%s":null' "$1" ;;
  esac
}

# ---------------------------------------------------------------- parameters

need() {
  local var
  for var; do
    [[ -n ${!var-} ]] || fail "missing parameter $var (an environment variable)"
  done
}
need_match() { # need_match VAR REGEX WHAT
  need "$1"
  [[ ${!1} =~ $2 ]] || fail "parameter $1 must be $3 (got '${!1}')"
}
need_path() { need_match "$1" '^/[A-Za-z0-9._/@+-]*$' 'an absolute path of letters, digits and ._/@+-'; }
need_port() {
  need_match "$1" '^[0-9]{1,5}$' 'a port number 1-65535'
  ((10#${!1} >= 1 && 10#${!1} <= 65535)) || fail "parameter $1 must be a port number 1-65535 (got '${!1}')"
}
need_role() { need_match "$1" '^[A-Za-z_][A-Za-z0-9_$]{0,62}$' 'a plain PostgreSQL role name'; }
need_host() { need_match "$1" '^[A-Za-z0-9:]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$' 'an IP address or DNS name'; }
need_secret() { # need_secret VAR SHELL_VAR: the value itself is never shown
  [[ -n ${!2} ]] || fail "missing protected parameter $1 (a secret, passed as a protected parameter)"
  [[ ${!2} != *$'\n'* ]] || fail "protected parameter $1 must be a single line"
}

# The node's own settings, needed by every script.
validate_node() {
  need_match PGFO_NODE_NAME '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' 'a node name (lower-case letters, digits, -)'
  need_path PGFO_BIN_DIR
  [[ -x $PGFO_BIN_DIR/pg_ctl ]] || fail "parameter PGFO_BIN_DIR=$PGFO_BIN_DIR holds no executable pg_ctl"
  need_match PGFO_OS_USER '^[a-z_][a-z0-9_-]{0,31}$' 'a Linux user name'
  need_match PGFO_SSL_MODE '^(prefer|require)$' 'the libpq sslmode for connections to other nodes: require, or prefer'
  id -u "$PGFO_OS_USER" >/dev/null 2>&1 || fail "parameter PGFO_OS_USER=$PGFO_OS_USER is not a user on this machine"
  if ((EUID != 0)) && [[ $(id -un) != "$PGFO_OS_USER" ]]; then
    fail "this script must run as root or as PGFO_OS_USER=$PGFO_OS_USER (it runs as $(id -un))"
  fi
  need_path PGFO_DATA_DIR
  if [[ ! -f $PGFO_DATA_DIR/PG_VERSION ]]; then
    local hint=''
    [[ -d $PGFO_DATA_DIR.pgfo-old ]] && hint="; an interrupted rejoin left the previous one at $PGFO_DATA_DIR.pgfo-old"
    fail "parameter PGFO_DATA_DIR=$PGFO_DATA_DIR is not a PostgreSQL data directory (no PG_VERSION)$hint"
  fi
  need_match PGFO_CONTROL '^(systemd|pg_ctl)$' '"systemd" or "pg_ctl"'
  if [[ $PGFO_CONTROL == systemd ]]; then
    need_match PGFO_SERVICE '^[A-Za-z0-9@._:-]+$' 'a systemd unit name'
  fi
  need_port PGFO_PORT
  need_path PGFO_SOCKET_DIR
  need_role PGFO_ADMIN_USER
  PGFO_WAIT_SECONDS=${PGFO_WAIT_SECONDS:-60}
  need_match PGFO_WAIT_SECONDS '^[0-9]{1,5}$' 'a number of seconds'
}

# Needed by scripts that start the server.
validate_start() {
  if [[ $PGFO_CONTROL == pg_ctl ]]; then need_path PGFO_LOG_FILE; fi
}

# The primary to stream from, and the replication password (follow, rejoin).
validate_upstream() {
  need_host PGFO_PRIMARY_HOST
  need_port PGFO_PRIMARY_PORT
  need_role PGFO_REPLICATION_USER
  need_path PGFO_PASSFILE
  need_secret PGFO_REPLICATION_PASSWORD pgfo_replication_password
}

# ---------------------------------------------------------------- running programs

as_os_user() {
  if ((EUID == 0)); then runuser -u "$PGFO_OS_USER" -- "$@"; else "$@"; fi
}

# run_cmd CMD ARG...: runs a command; its stderr is passed on, and when it fails, its last lines
# become the reported error (unless the caller handles the failure and calls tool_error).
run_cmd() {
  local name=${1##*/} rc=0
  [[ $1 == as_os_user ]] && name=${2##*/}
  [[ $1 == in_dir ]] && name=${3##*/}
  if [[ -n ${pgfo_lock_fd-} ]]; then
    # A server started from here must not inherit the script's lock and hold it for its lifetime.
    "$@" 2>"$pgfo_tmp/stderr" {pgfo_lock_fd}>&- || rc=$?
  else
    "$@" 2>"$pgfo_tmp/stderr" || rc=$?
  fi
  cat "$pgfo_tmp/stderr" >&2
  if ((rc == 0)); then
    rm -f "$pgfo_tmp/tool-error"
    return 0
  fi
  local tail
  tail=$(tail -n 4 "$pgfo_tmp/stderr" | tr '\n' ' ')
  printf '%s exited with %s: %s' "$name" "$rc" "${tail% }" >"$pgfo_tmp/tool-error"
  return "$rc"
}

# hold_data_dir_lock: an exclusive lock on the directory holding PGFO_DATA_DIR for the rest of the
# script (released when it exits); returns 1 while another holds it. One lock whoever runs the
# script: root over Run Command and the node agent's OS user lock the same inode, so a step retried
# on the other path waits its turn. The parent, not the data directory itself, as a rejoin swaps
# that one out. Opened read-only as "$dir/." (a FIFO or a file put in its place fails at once,
# never blocks) and checked to be the very directory at that path, not one a link points to:
# nothing is created or truncated in a directory the OS user owns.
hold_data_dir_lock() {
  local dir rc=0
  dir=$(dirname -- "$PGFO_DATA_DIR")
  exec {pgfo_lock_fd}<"$dir/." || fail "cannot open $dir (the directory holding the data directory) to lock it"
  [[ $(stat -c %d:%i -- "$dir") == "$(stat -L -c %d:%i "/dev/fd/$pgfo_lock_fd")" ]] ||
    fail "the directory holding the data directory, $dir, must be a directory, not a link"
  flock -n -E 75 "$pgfo_lock_fd" || rc=$?
  ((rc != 75)) || return 1
  ((rc != 0)) || return 0
  # NFS emulates flock with byte-range locks, which a descriptor opened read-only cannot take
  # exclusively: there the lock is the running user's own, in a directory only it can write.
  exec {pgfo_lock_fd}<&-
  hold_private_lock "rejoin${PGFO_DATA_DIR//\//_}.lock"
}

# hold_private_lock NAME: an exclusive lock in a directory only this user can write (root opening
# a lock file in a directory the OS user owns would truncate whatever a symlink planted there
# points to); returns 1 while another holds it.
hold_private_lock() {
  local dir=/run/pg-failover
  if ((EUID != 0)); then dir=${TMPDIR:-/tmp}/pg-failover-$EUID; fi
  mkdir -m 0700 "$dir" 2>/dev/null || true # another script may be making it too
  [[ -d $dir && ! -L $dir && -O $dir ]] || fail "the lock directory $dir must be a directory owned by $(id -un), not a link"
  exec {pgfo_lock_fd}>"$dir/$1"
  flock -n "$pgfo_lock_fd"
}

# tool_error: prints the last failed program's message and forgets it (for handled failures).
tool_error() {
  if [[ -e $pgfo_tmp/tool-error ]]; then
    cat "$pgfo_tmp/tool-error"
    rm -f "$pgfo_tmp/tool-error"
  fi
}

# run_pg PROGRAM ARG...: a PostgreSQL program from PGFO_BIN_DIR, as the OS user.
run_pg() {
  local program=$1
  shift
  run_cmd as_os_user "$PGFO_BIN_DIR/$program" "$@"
}

# local_sql [PSQL ARG...]: psql as the admin role over the local socket (peer authentication, as
# the DBA would type it); SQL from -c or stdin; rows unaligned, fields separated by '|'.
local_sql() {
  run_pg psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PGFO_SOCKET_DIR" -p "$PGFO_PORT" -U "$PGFO_ADMIN_USER" -d postgres "$@"
}

# ---------------------------------------------------------------- files in the OS user's reach
# Root never opens, creates, copies or moves a file in a directory the OS user can write: any
# database superuser gets a shell as that user (COPY ... TO PROGRAM) and could plant a symlink
# there that makes root write or read any file. Such file work runs as the OS user, with its
# rights only. A directory only root can write (a root-owned mount point holding the data
# directory, say) holds nothing anyone else planted: there the work runs as root.

# in_dir DIR CMD ARG...: CMD as whoever may safely work in DIR (see above).
in_dir() {
  local dir=$1
  shift
  if ((EUID == 0)) && [[ $(stat -c '%u %A' -- "$dir") =~ ^0\ d....-..-. ]]; then "$@"; else as_os_user "$@"; fi
}

# The atomic write run inside in_dir's shell: stdin to PATH through a temporary file beside it,
# mode 0600, owned by the OS user; the temporary file is gone when it fails.
# shellcheck disable=SC2016 # expanded by the inner shell
PGFO_ATOMIC_WRITE='umask 077
atomic_write() { # atomic_write PATH OWNER
  local tmp
  tmp=$(mktemp "$1.pgfo-XXXXXX") || return 1
  if cat >"$tmp" && { ((EUID != 0)) || chown -- "$2:" "$tmp"; } && mv -f -T "$tmp" "$1"; then return 0; fi
  rm -f -- "$tmp"
  return 1
}'

# install_file PATH: writes stdin to PATH atomically (PGFO_ATOMIC_WRITE).
install_file() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  run_cmd in_dir "$(dirname -- "$1")" bash -c "$PGFO_ATOMIC_WRITE"'
    atomic_write "$1" "$2"' install_file "$1" "$PGFO_OS_USER"
}

# read_file PATH: the text of a regular file; nothing when there is no such file. Never waits on
# a FIFO planted in its place.
read_file() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  run_cmd in_dir "$(dirname -- "$1")" bash -c '[[ ! -e $1 && ! -L $1 ]] && exit 0
    [[ -f $1 ]] || { echo "$1 is not a regular file" >&2; exit 1; }
    timeout 10 cat -- "$1"' read_file "$1"
}

# copy_file FROM TO: FROM's text into TO (install_file), each side by whoever may work there.
copy_file() {
  local text
  text=$(read_file "$1")
  printf '%s\n' "$text" | install_file "$2"
}

# passfile_line USER PASSWORD: a .pgpass line for USER on any host, port and database.
passfile_line() {
  local password=$2
  password=${password//\\/\\\\}
  password=${password//:/\\:}
  printf '*:*:*:%s:%s\n' "$1" "$password"
}

# The replication password goes into PGFO_PASSFILE (kept: the WAL receiver reads it whenever it
# reconnects). Lines for other users are kept.
write_replication_passfile() {
  local line kept
  kept=$(read_file "$PGFO_PASSFILE")
  {
    if [[ -n $kept ]]; then
      while IFS= read -r line || [[ -n $line ]]; do
        [[ $line == "*:*:*:$PGFO_REPLICATION_USER:"* ]] || printf '%s\n' "$line"
      done <<<"$kept"
    fi
    passfile_line "$PGFO_REPLICATION_USER" "$pgfo_replication_password"
  } | install_file "$PGFO_PASSFILE"
  note "replication password written to $PGFO_PASSFILE (0600, $PGFO_OS_USER)"
}

# The admin password goes into a temporary password file, removed when the script ends. A run
# killed with SIGKILL (no EXIT trap) leaves its file: its name carries the run's user id and PID,
# so the next run as that user removes it once that process is gone. Only a run as the same user:
# to another user's live process `kill -0` answers "not permitted", which must not read as gone
# where runs as root (Run Command) and as the OS user (a node agent outside its unit, whose
# PrivateTmp keeps its /tmp apart: the lab) share /tmp; the file belongs to the OS user either way.
write_admin_passfile() {
  local stale pid
  for stale in "${TMPDIR:-/tmp}/pgfo-admin.$EUID."*.*; do
    [[ -f $stale ]] || continue
    pid=${stale##*/pgfo-admin."$EUID".}
    pid=${pid%%.*}
    if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$stale"
      note "removed $stale, left by a run that was killed"
    fi
  done
  pgfo_admin_passfile=$(mktemp "${TMPDIR:-/tmp}/pgfo-admin.$EUID.$$.XXXXXX")
  passfile_line "$PGFO_ADMIN_USER" "$pgfo_admin_password" >"$pgfo_admin_passfile"
  # Given away only once written: its new owner could swap it for a symlink root would write through.
  if ((EUID == 0)); then chown "$PGFO_OS_USER" "$pgfo_admin_passfile"; fi
}

# ---------------------------------------------------------------- the server

# server_running: pg_ctl status (the postmaster named in postmaster.pid is alive).
server_running() {
  local rc=0
  as_os_user "$PGFO_BIN_DIR/pg_ctl" status -D "$PGFO_DATA_DIR" >/dev/null 2>&1 || rc=$?
  case $rc in
    0) return 0 ;;
    3) return 1 ;;
    *) fail "pg_ctl status -D $PGFO_DATA_DIR exited with $rc" ;;
  esac
}

service_active() { systemctl is-active --quiet "$PGFO_SERVICE"; }

start_server() {
  if [[ $PGFO_CONTROL == systemd ]]; then
    run_cmd systemctl start "$PGFO_SERVICE" >&2
  else
    run_pg pg_ctl start -D "$PGFO_DATA_DIR" -l "$PGFO_LOG_FILE" -w -t "$PGFO_WAIT_SECONDS" >&2
  fi
}

# A fast shutdown ends the sessions, writes the shutdown checkpoint and, before exiting, sends
# all WAL (the checkpoint included) to the connected standbys.
# While the VM itself shuts down, systemd's own stop job for the service waits for the agent's
# shutdown hook, which waits for this switchover: `systemctl stop` would join that job and
# deadlock, so then the server is stopped with pg_ctl directly (systemd sees its main process end).
stop_server() {
  if [[ $PGFO_CONTROL == systemd && $(systemctl is-system-running 2>/dev/null || true) != stopping ]]; then
    run_cmd systemctl stop "$PGFO_SERVICE" >&2
  else
    run_pg pg_ctl stop -D "$PGFO_DATA_DIR" -m fast -w -t "$PGFO_WAIT_SECONDS" >&2
  fi
}

# wait_ready: until the server accepts connections on its socket (bounded by PGFO_WAIT_SECONDS).
wait_ready() {
  local deadline=$((SECONDS + PGFO_WAIT_SECONDS))
  until as_os_user "$PGFO_BIN_DIR/pg_isready" -q -h "$PGFO_SOCKET_DIR" -p "$PGFO_PORT" -d postgres; do
    ((SECONDS < deadline)) || fail "the server did not accept connections on $PGFO_SOCKET_DIR port $PGFO_PORT within ${PGFO_WAIT_SECONDS}s"
    sleep 0.5
  done
}

in_recovery() { local_sql -c 'SELECT pg_is_in_recovery()'; }

# read_controldata: pg_controldata of the data directory into the array CD.
declare -A CD=()
read_controldata() {
  local out line label
  out=$(run_pg pg_controldata -D "$PGFO_DATA_DIR")
  CD=()
  while IFS= read -r line; do
    label=${line%%:*}
    line=${line#*:}
    CD[$label]=${line#"${line%%[![:space:]]*}"}
  done <<<"$out"
  [[ -n ${CD['Database cluster state']-} ]] || fail "pg_controldata printed no cluster state for $PGFO_DATA_DIR"
}

# ---------------------------------------------------------------- replication

# The standby's connection to the primary. Every value was validated above, so none needs quoting
# inside the conninfo; SQL receives it as a psql variable (:'conninfo'), never spliced in.
standby_conninfo() {
  printf 'host=%s port=%s user=%s passfile=%s application_name=%s connect_timeout=5 sslmode=%s' \
    "$PGFO_PRIMARY_HOST" "$PGFO_PRIMARY_PORT" "$PGFO_REPLICATION_USER" "$PGFO_PASSFILE" "$PGFO_NODE_NAME" "$PGFO_SSL_MODE"
}

# repoint_running_standby: on a running standby, ALTER SYSTEM SET primary_conninfo (when it
# differs) and reload; the WAL receiver then reconnects with it. Sets CONNINFO_CHANGED.
# shellcheck disable=SC2034 # read by the scripts
CONNINFO_CHANGED=false
repoint_running_standby() {
  local conninfo current
  conninfo=$(standby_conninfo)
  current=$(local_sql -c 'SHOW primary_conninfo')
  CONNINFO_CHANGED=false
  if [[ $current != "$conninfo" ]]; then
    # shellcheck disable=SC2034 # read by the scripts
    CONNINFO_CHANGED=true
    note "primary_conninfo = '$conninfo'"
    printf '%s\n' "ALTER SYSTEM SET primary_conninfo = :'conninfo';" 'SELECT pg_reload_conf();' |
      local_sql -v "conninfo=$conninfo" >/dev/null
  fi
}

# wait_streaming: until pg_stat_wal_receiver streams from PGFO_PRIMARY_HOST:PORT. Returns 1 on
# timeout; leaves the receiver's last state in WR_STATUS WR_HOST WR_PORT WR_TLI WR_LSN.
WR_STATUS='' WR_HOST='' WR_PORT='' WR_TLI='' WR_LSN=''
wait_streaming() {
  local deadline=$((SECONDS + PGFO_WAIT_SECONDS)) row upstream_tli=''
  while :; do
    row=$(local_sql -F ' ' -c 'SELECT status, sender_host, sender_port, received_tli, flushed_lsn FROM pg_stat_wal_receiver' 2>/dev/null) || row=''
    tool_error >/dev/null
    read -r WR_STATUS WR_HOST WR_PORT WR_TLI WR_LSN <<<"$row" || true
    # A standby first streams the old timeline up to the fork point, then switches: it follows
    # only once it receives the primary's own timeline.
    [[ -n $upstream_tli ]] || upstream_tli=$(upstream_timeline)
    if [[ $WR_STATUS == streaming && $WR_HOST == "$PGFO_PRIMARY_HOST" && $WR_PORT == "$PGFO_PRIMARY_PORT" && -n $upstream_tli && $WR_TLI == "$upstream_tli" ]]; then
      note "streaming from $WR_HOST:$WR_PORT on timeline $WR_TLI"
      return 0
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# upstream_timeline: the primary's current timeline (IDENTIFY_SYSTEM over a replication connection,
# with the same role and passfile the standby uses); empty while it cannot be reached.
upstream_timeline() {
  as_os_user "$PGFO_BIN_DIR/psql" -X -A -t -F ' ' -d "$(standby_conninfo) replication=true" -c 'IDENTIFY_SYSTEM' 2>/dev/null | awk '{print $2}' || true
}

streaming_fields() {
  printf '%s,%s,%s,%s' "$(jstr senderHost "$WR_HOST")" "$(jnum senderPort "$WR_PORT")" "$(jnum receivedTimeline "$WR_TLI")" "$(jstr_or_null flushedLsn "$WR_LSN")"
}

# ---------------------------------------------------------------- a stopped server's configuration

# with_setting TEXT NAME VALUE: the postgresql.auto.conf TEXT with NAME set to VALUE, the way
# pg_basebackup -R and pg_rewind -R write primary_conninfo (other lines are kept).
with_setting() {
  local line
  if [[ -n $1 ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      [[ $line =~ ^[[:space:]]*$2[[:space:]]*= ]] || printf '%s\n' "$line"
    done <<<"$1"
  fi
  printf "%s = '%s'\n" "$2" "${3//\'/\'\'}"
}

# configure_standby DIR [keep-conninfo]: the STOPPED server in DIR starts as a standby, whoever
# starts it: standby.signal first (from then on it can only start read-only), no recovery.signal,
# recovery_target_timeline 'latest' (PostgreSQL's default since 12, written so that no other
# setting can stop it from following a promotion), and primary_conninfo for PGFO_PRIMARY_HOST
# (validate_upstream) unless keep-conninfo: then the primary_conninfo it has, if any, is kept.
configure_standby() {
  local conf
  conf=$(read_file "$1/postgresql.auto.conf")
  conf=$(with_setting "$conf" recovery_target_timeline latest)
  if [[ ${2-} != keep-conninfo ]]; then conf=$(with_setting "$conf" primary_conninfo "$(standby_conninfo)"); fi
  # All the writing in one shell (stop-clean runs inside the write outage; each runuser costs
  # milliseconds), synced before anyone is told: a power loss right after must not bring back a
  # primary.
  # shellcheck disable=SC2016 # expanded by the inner shell
  printf '%s\n' "$conf" | run_cmd in_dir "$1" bash -c "$PGFO_ATOMIC_WRITE"'
    atomic_write "$1/standby.signal" "$2" </dev/null &&
      rm -f -- "$1/recovery.signal" &&
      atomic_write "$1/postgresql.auto.conf" "$2" &&
      sync -- "$1/standby.signal" "$1/postgresql.auto.conf" "$1"' configure_standby "$1" "$PGFO_OS_USER"
}
