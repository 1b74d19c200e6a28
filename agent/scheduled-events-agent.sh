#!/usr/bin/env bash
# scheduled-events-agent.sh - runs on each PostgreSQL VM (systemd: pg-failover-scheduled-events).
#
# Polls Azure Scheduled Events (IMDS, GET /metadata/scheduledevents?api-version=2020-07-01 with
# "Metadata: true") and, for every new event that names THIS VM (Reboot, Redeploy, Freeze,
# Preempt, Terminate):
#   1. forwards it once to the failover app: POST /api/clusters/<cluster>/nodes/<node>/scheduled-events
#      (the event object exactly as the metadata service listed it);
#   2. waits for the app's verdict, asking again (the same event: idempotent per EventId) while the
#      app answers 202 "in progress" (a switchover away from this node is running);
#   3. verdict "approve" → approves the event (POST {"StartRequests":[{"EventId":...}]}) so the
#      maintenance starts now instead of at NotBefore;
#      verdict "wait", a refusal, or no answer → does NOT approve: the platform starts the event at
#      NotBefore by itself. The agent never waits past NotBefore.
#   Preempt (30 s notice): forwarded with a short timeout, then approved at once.
# The outcome of every event is kept in a state file keyed by EventId, so an event is handled once
# whatever the number of polls, DocumentIncarnation changes or agent restarts; an event still being
# handled when the agent restarted is resumed (asking the app again joins the same switchover).
#
# Usage: scheduled-events-agent.sh [--once] [--config FILE]
#   --once     one poll cycle (every listed event handled to its outcome), then exit (tests, cron)
#   --config   the configuration file (default: see lib.sh)
# Each outcome is one stdout line: PGFO_AGENT {"agent":"scheduled-events","eventId":...,"outcome":...}
#   outcome: approved | released (not approved; runs at NotBefore) | not-ours | too-late | ignored
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGFO_AGENT_NAME=scheduled-events
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

API_VERSION=2020-07-01
EVENTS_PATH="/metadata/scheduledevents?api-version=$API_VERSION"
HANDLED_TYPES=' Reboot Redeploy Freeze Preempt Terminate '

once=0
config=''
while (($#)); do
  case $1 in
    --once) once=1 ;;
    --config)
      [[ $# -ge 2 ]] || die "--config needs a file"
      config=$2
      shift
      ;;
    -h | --help)
      usage_of "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument $1 (use --once, --config FILE)" ;;
  esac
  shift
done

agent_init "${config:-$(default_config_file)}"
state_dir=${CFG[PGFO_STATE_DIR]}/events
mkdir -p -- "$state_dir"
vm_name=''
doc_flat=$pgfo_tmp/doc.flat
last_incarnation=''

# ---------------------------------------------------------------- state per EventId

state_get() {
  local file=$state_dir/$1
  [[ -f $file ]] || return 0
  head -n 1 -- "$file"
}

state_set() {
  local id=$1 state=$2 detail=${3-}
  printf '%s\n%s\n' "$state" "$detail" >"$state_dir/$id.tmp"
  mv -f -- "$state_dir/$id.tmp" "$state_dir/$id"
}

# ---------------------------------------------------------------- the metadata service

# This VM's name as Scheduled Events lists it in Resources.
resolve_vm_name() {
  if [[ -n ${CFG[PGFO_VM_NAME]-} ]]; then
    vm_name=${CFG[PGFO_VM_NAME]}
    return
  fi
  local status
  status=$(imds GET '/metadata/instance/compute/name?api-version=2021-02-01&format=text' "$pgfo_tmp/name")
  if [[ $status == 200 ]] && [[ $(<"$pgfo_tmp/name") =~ ^[A-Za-z0-9._-]{1,80}$ ]]; then
    vm_name=$(<"$pgfo_tmp/name")
  else
    vm_name=${CFG[PGFO_NODE]}
    log warning "could not read this VM's name from the metadata service (HTTP $status); assuming it is $vm_name (set PGFO_VM_NAME)"
  fi
}

# fetch_document [TIMEOUT]: the current events document, flattened into $doc_flat.
fetch_document() {
  local status
  status=$(imds GET "$EVENTS_PATH" "$pgfo_tmp/doc.json" '' "${1:-10}")
  if [[ $status != 200 ]]; then
    log warning "Scheduled Events unavailable (HTTP $status$([[ $status == 000 ]] && printf ': %s' "$(tr '\n' ' ' <"$pgfo_tmp/imds-error")"))"
    return 1
  fi
  if ! json_flatten <"$pgfo_tmp/doc.json" >"$doc_flat"; then
    log warning "the Scheduled Events document is not JSON: $(head -c 200 "$pgfo_tmp/doc.json")"
    return 1
  fi
}

# event_index ID: the index of the event in the current document (fails when it is gone).
event_index() {
  local i=0 id
  while id=$(jstring "Events.$i.EventId" "$doc_flat"); do
    if [[ $id == "$1" ]]; then
      printf '%s' "$i"
      return 0
    fi
    i=$((i + 1))
  done
  return 1
}

names_this_vm() {
  local i=$1 k=0 resource
  while resource=$(jstring "Events.$i.Resources.$k" "$doc_flat"); do
    [[ ${resource,,} == "${vm_name,,}" ]] && return 0
    k=$((k + 1))
  done
  return 1
}

resources_of() {
  local i=$1 k=0 resource list=''
  while resource=$(jstring "Events.$i.Resources.$k" "$doc_flat"); do
    list+="${list:+,}$resource"
    k=$((k + 1))
  done
  printf '%s' "$list"
}

approve() {
  local id=$1 status
  printf '{"StartRequests":[{"EventId":"%s"}]}' "$id" >"$pgfo_tmp/approve.json"
  status=$(imds POST "$EVENTS_PATH" "$pgfo_tmp/approve.out" "$pgfo_tmp/approve.json")
  [[ $status == 200 ]] && return 0
  log error "approving event $id failed (HTTP $status): it starts at NotBefore instead"
  return 1
}

# ---------------------------------------------------------------- one event

# finish ID TYPE OUTCOME DETAIL [OPERATION]: the state file and the result line.
finish() {
  local id=$1 type=$2 outcome=$3 detail=$4 operation=${5-}
  state_set "$id" "$outcome" "$detail"
  log info "event $id ($type): $outcome - $detail"
  result eventId "$id" eventType "$type" outcome "$outcome" operationId "$operation" detail "$detail"
}

# handle_event INDEX: forward, wait for the verdict (never past NotBefore), approve or release.
handle_event() {
  local i=$1 id type not_before deadline remaining status attempt=0 delay why='' operation=''
  id=$(jstring "Events.$i.EventId" "$doc_flat")
  type=$(jstring "Events.$i.EventType" "$doc_flat")
  not_before=$(jstring "Events.$i.NotBefore" "$doc_flat") || not_before=''
  jget "Events.$i" "$doc_flat" >"$pgfo_tmp/event-$id.json"
  deadline=$(epoch_of "$not_before") || deadline=$(now)
  [[ -n $(state_get "$id") ]] || state_set "$id" forwarding "NotBefore $not_before"
  log info "event $id: $type of $(resources_of "$i") not before ${not_before:-now}; asking the app"

  if [[ $type == Preempt ]]; then
    # 30 s notice: there is no time to wait for a switchover here. Tell the app (it starts what it
    # can), then let the eviction go ahead.
    remaining=$((deadline - $(now)))
    status=$(app_post scheduled-events "$pgfo_tmp/event-$id.json" "$pgfo_tmp/answer" "$(min "${CFG[PGFO_PREEMPT_FORWARD_SECONDS]}" "$((remaining > 1 ? remaining : 1))")")
    app_answer "$pgfo_tmp/answer"
    if approve "$id"; then
      finish "$id" "$type" approved "Preempt: forwarded (HTTP $status${verdict:+, $verdict}) and approved at once" "$answer_operation"
    else
      finish "$id" "$type" released "Preempt: forwarded (HTTP $status), approval failed" "$answer_operation"
    fi
    return
  fi

  while :; do
    remaining=$((deadline - $(now)))
    if ((remaining <= 0)); then
      finish "$id" "$type" released "NotBefore reached without the app's approval${why:+ ($why)}: not approved, the platform starts it now" "$operation"
      return
    fi
    status=$(app_post scheduled-events "$pgfo_tmp/event-$id.json" "$pgfo_tmp/answer" "$(min "${CFG[PGFO_HTTP_TIMEOUT_SECONDS]}" "$remaining")")
    app_answer "$pgfo_tmp/answer"
    [[ -n $answer_operation ]] && operation=$answer_operation
    delay=''
    case $status in
      200)
        case $verdict in
          approve)
            if approve "$id"; then
              finish "$id" "$type" approved "${answer_detail:-the app approved}" "$operation"
            else
              finish "$id" "$type" released "the app approved but the approval was refused by the metadata service" "$operation"
            fi
            return
            ;;
          wait)
            finish "$id" "$type" released "the app says wait: ${answer_detail:-no reason given}; not approved, it runs at NotBefore" "$operation"
            return
            ;;
          *) why="the app answered 200 without a verdict" ;;
        esac
        ;;
      202)
        why="${answer_detail:-in progress}"
        delay=${answer_retry:-5}
        log info "event $id: $why"
        ;;
      400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422)
        finish "$id" "$type" released "the app refused the event (HTTP $status: ${answer_detail:-$(head -c 300 "$pgfo_tmp/answer" 2>/dev/null)}); not approved" "$operation"
        return
        ;;
      000) why="the app cannot be reached: $(app_error)" ;;
      *) why="the app failed (HTTP $status${answer_detail:+: $answer_detail})" ;;
    esac
    if [[ -z $delay ]]; then
      attempt=$((attempt + 1))
      delay=$((attempt < 4 ? 1 << (attempt - 1) : 10))
      log warning "event $id: $why; asking again in ${delay}s"
    fi
    remaining=$((deadline - $(now)))
    ((remaining > 0)) && sleep "$(min "$delay" "$remaining")"

    # Still ours to approve? The event may have started (NotBefore passed), been approved by
    # someone else, or been cancelled; Azure may also have moved its NotBefore.
    if fetch_document; then
      if ! i=$(event_index "$id"); then
        finish "$id" "$type" released "the event left the document (cancelled or over) before the app's approval${why:+ ($why)}" "$operation"
        return
      fi
      if [[ $(jstring "Events.$i.EventStatus" "$doc_flat") != Scheduled ]]; then
        # Started: by the platform at NotBefore, or by an approval, e.g. another delivery of this
        # same event that the app answered first. The app's verdict now tells which.
        status=$(app_post scheduled-events "$pgfo_tmp/event-$id.json" "$pgfo_tmp/answer" "${CFG[PGFO_HTTP_TIMEOUT_SECONDS]}")
        app_answer "$pgfo_tmp/answer"
        if [[ $status == 200 && $verdict == approve ]]; then
          finish "$id" "$type" approved "${answer_detail:-the app approved}; another delivery of this event had already started it" "${answer_operation:-$operation}"
        else
          finish "$id" "$type" released "the event started without our approval (NotBefore passed)${why:+ ($why)}" "$operation"
        fi
        return
      fi
      not_before=$(jstring "Events.$i.NotBefore" "$doc_flat") || not_before=''
      deadline=$(epoch_of "$not_before") || deadline=$(now)
    fi
  done
}

# consider INDEX: decide whether an event of the document is ours to handle now.
consider() {
  local i=$1 id type status previous
  id=$(jstring "Events.$i.EventId" "$doc_flat") || return 0
  if [[ ! $id =~ ^[0-9A-Za-z-]{1,64}$ ]]; then
    log warning "ignoring an event with a malformed EventId"
    return 0
  fi
  previous=$(state_get "$id")
  case $previous in
    '' | forwarding) ;;
    *) return 0 ;; # handled before: forwarded once, whatever the number of polls
  esac
  type=$(jstring "Events.$i.EventType" "$doc_flat") || type=''
  status=$(jstring "Events.$i.EventStatus" "$doc_flat") || status=''
  if ! names_this_vm "$i"; then
    finish "$id" "$type" not-ours "names $(resources_of "$i"), not this VM ($vm_name)"
    return 0
  fi
  if [[ $HANDLED_TYPES != *" $type "* ]]; then
    finish "$id" "$type" ignored "event type ${type:-?} is not one the agent acts on"
    return 0
  fi
  if [[ $status != Scheduled ]]; then
    finish "$id" "$type" too-late "the event is already ${status:-?}: nothing to prepare any more"
    return 0
  fi
  handle_event "$i"
}

# poll: one look at the document; every event in it is taken to its outcome.
poll() {
  fetch_document "${1:-10}" || return 0
  local incarnation i=0 count=0
  incarnation=$(jstring DocumentIncarnation "$doc_flat") || incarnation='?'
  if [[ $incarnation != "$last_incarnation" ]]; then
    while jget "Events.$count.EventId" "$doc_flat" >/dev/null; do count=$((count + 1)); done
    log info "DocumentIncarnation $incarnation: $count event(s)"
  fi
  # The document is re-read while an event is handled: walk a snapshot of it.
  cp -- "$doc_flat" "$pgfo_tmp/snapshot.flat"
  local snapshot=$pgfo_tmp/snapshot.flat id
  while id=$(jstring "Events.$i.EventId" "$snapshot"); do
    cp -- "$snapshot" "$doc_flat"
    consider "$(event_index "$id")"
    i=$((i + 1))
  done
  last_incarnation=$incarnation
}

resolve_vm_name
log info "watching Scheduled Events for VM $vm_name (node ${CFG[PGFO_NODE]} of cluster ${CFG[PGFO_CLUSTER]}, app ${CFG[PGFO_APP_URL]})"
if ((once)); then
  poll 130
  exit 0
fi
# The first call may take up to two minutes (the service switches on); it switches off again
# after 24 h without calls, so the loop keeps asking.
first=1
while :; do
  if ((first)); then poll 130; else poll 10; fi
  first=0
  find "$state_dir" -maxdepth 1 -type f -mtime +14 -delete 2>/dev/null || true
  sleep "${CFG[PGFO_POLL_SECONDS]}"
done
