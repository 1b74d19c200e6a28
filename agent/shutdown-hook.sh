#!/usr/bin/env bash
# shutdown-hook.sh - ExecStop of pg-failover-shutdown-hook.service on each PostgreSQL VM.
#
# The unit is ordered After=postgresql, so when the VM shuts down or reboots systemd runs this
# BEFORE it stops PostgreSQL. It asks the failover app to move the primary away from this node
#   POST /api/clusters/<cluster>/nodes/<node>/shutdown {"requestId": "...", "reason": "..."}
# and waits, asking again while the app answers 202 (a switchover is running), until the app
# answers 200 ("approve": this node is not, or no longer, the primary and left the load balancer
# pools; "wait": the app could not move it) or the bound (PGFO_SHUTDOWN_TIMEOUT_SECONDS,
# default 120 s) passes. It always exits 0: a shutdown is never blocked past the bound.
#
# A stop of the unit that is not a system shutdown (systemctl stop/restart, a package upgrade)
# does nothing, unless --force is given.
#
# Usage: shutdown-hook.sh [--force] [--config FILE] [--timeout SECONDS]
# Outcome: one stdout line PGFO_AGENT {"agent":"shutdown-hook","outcome":"approved|wait|refused|timeout|not-shutdown|error",...}
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGFO_AGENT_NAME=shutdown-hook
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

force=0
config=''
timeout=''
while (($#)); do
  case $1 in
    --force) force=1 ;;
    --config | --timeout)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      if [[ $1 == --config ]]; then config=$2; else timeout=$2; fi
      shift
      ;;
    -h | --help)
      usage_of "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument $1 (use --force, --config FILE, --timeout SECONDS)" ;;
  esac
  shift
done

# Whatever goes wrong, the shutdown goes on: exit 0 with an outcome line.
outcome_written=0
on_exit() {
  local rc=$?
  if ((!outcome_written)); then result outcome error detail "the hook stopped early (exit $rc); the shutdown goes on"; fi
  [[ -n $pgfo_tmp ]] && rm -rf -- "$pgfo_tmp"
  exit 0
}
trap on_exit EXIT
done_with() {
  outcome_written=1
  log info "$1: $2"
  result outcome "$1" detail "$2" operationId "${3-}" node "${CFG[PGFO_NODE]-}"
  exit 0
}

# The targets of a shutdown in progress ("reboot.target"...), empty when the system is not stopping.
shutdown_targets() {
  command -v systemctl >/dev/null 2>&1 || return 0
  systemctl list-jobs --no-legend --no-pager 2>/dev/null |
    awk '$2 ~ /^(shutdown|reboot|poweroff|halt|kexec|soft-reboot)\.target$/ && $3 == "start" { printf "%s%s", sep, $2; sep = " " }' || true
}

load_config "${config:-$(default_config_file)}"
pgfo_tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgfo-hook.XXXXXX")
pgfo_auth_header=$pgfo_tmp/auth-headers
: >"$pgfo_auth_header"
if [[ -n $timeout ]]; then
  [[ $timeout =~ ^[1-9][0-9]{0,4}$ ]] || die "--timeout must be a whole number of seconds"
  CFG[PGFO_SHUTDOWN_TIMEOUT_SECONDS]=$timeout
fi

targets=$(shutdown_targets)
state=$(systemctl is-system-running 2>/dev/null || true)
if ((!force)) && [[ -z $targets && $state != stopping ]]; then
  done_with not-shutdown "the unit was stopped but the system is not shutting down (state ${state:-unknown}): nothing to do"
fi
reason="guest OS shutdown${targets:+ ($targets)}"
((force)) && [[ -z $targets ]] && reason="shutdown hook run by hand (--force)"

# One id for this run, stable across its polls: the app joins the switchover it started for it.
boot_id=$(tr -d '-' </proc/sys/kernel/random/boot_id 2>/dev/null || true)
request_id="${boot_id:-boot}-$(now)"
printf '{"requestId":%s,"reason":%s}' "$(json_escape "$request_id")" "$(json_escape "$reason")" >"$pgfo_tmp/request.json"

deadline=$(($(now) + CFG[PGFO_SHUTDOWN_TIMEOUT_SECONDS]))
log info "asking the app to move the primary away from ${CFG[PGFO_NODE]} before PostgreSQL stops ($reason; waiting up to ${CFG[PGFO_SHUTDOWN_TIMEOUT_SECONDS]}s)"
attempt=0
why=''
operation=''
while :; do
  remaining=$((deadline - $(now)))
  ((remaining > 0)) || done_with timeout "no final answer within ${CFG[PGFO_SHUTDOWN_TIMEOUT_SECONDS]}s${why:+ ($why)}; the shutdown goes on" "$operation"
  status=$(app_post shutdown "$pgfo_tmp/request.json" "$pgfo_tmp/answer" "$(min "${CFG[PGFO_HTTP_TIMEOUT_SECONDS]}" "$remaining")")
  app_answer "$pgfo_tmp/answer"
  [[ -n $answer_operation ]] && operation=$answer_operation
  delay=''
  case $status in
    200)
      case $verdict in
        approve) done_with approved "${answer_detail:-this node is not the primary}" "$operation" ;;
        wait) done_with wait "${answer_detail:-the app could not move the primary away}" "$operation" ;;
        *) why="the app answered 200 without a verdict" ;;
      esac
      ;;
    202)
      why=${answer_detail:-switchover in progress}
      delay=${answer_retry:-2}
      log info "$why"
      ;;
    400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422)
      done_with refused "the app refused the request (HTTP $status: ${answer_detail:-$(head -c 300 "$pgfo_tmp/answer" 2>/dev/null)})" "$operation"
      ;;
    000) why="the app cannot be reached: $(app_error)" ;;
    *) why="the app failed (HTTP $status${answer_detail:+: $answer_detail})" ;;
  esac
  if [[ -z $delay ]]; then
    attempt=$((attempt + 1))
    delay=$((attempt < 3 ? attempt : 3))
    log warning "$why; asking again in ${delay}s"
  fi
  remaining=$((deadline - $(now)))
  ((remaining > 0)) && sleep "$(min "$delay" "$remaining")"
done
