#!/usr/bin/env bash
# lib.sh - shared by the pg-failover agent scripts that run ON the database VMs
# (scheduled-events-agent.sh, shutdown-hook.sh). Needs only bash 4.4+, curl, awk and coreutils:
# the VMs are not guaranteed to have Node, Python or jq.
#
# Rules:
#   - configuration comes from ONE file of PGFO_NAME=value lines (default /etc/pg-failover/agent.env,
#     or $CREDENTIALS_DIRECTORY/agent.env under systemd's LoadCredential=, or $PGFO_AGENT_CONFIG);
#     it is parsed, never sourced, and holds no secret (the agent authenticates with the VM's
#     managed identity);
#   - the access token never reaches a command line or a child's environment:
#     it is written to a 0600 header file that curl reads with -H @file;
#   - progress goes to stderr (journald); every final outcome is ONE line on stdout:
#       PGFO_AGENT {"agent":"...","outcome":"...",...}
# shellcheck disable=SC2034 # variables set here are used by the scripts that source this file

set -Eeuo pipefail
shopt -s inherit_errexit
umask 077
export LC_ALL=C

PGFO_AGENT_NAME=${PGFO_AGENT_NAME:-pg-failover-agent}
declare -A CFG=()
pgfo_tmp=''
pgfo_auth_header=''

# ---------------------------------------------------------------- logging and results

log() {
  local level=$1
  shift
  printf '%s %s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PGFO_AGENT_NAME" "$level" "$*" >&2
}

# json_escape TEXT: TEXT as a JSON string literal (quotes included).
json_escape() {
  local text=$1 out='' i ch code
  for ((i = 0; i < ${#text}; i++)); do
    ch=${text:i:1}
    case $ch in
      '"') out+='\"' ;;
      \\) out+="\\\\" ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      $'\t') out+='\t' ;;
      *)
        printf -v code '%d' "'$ch"
        if ((code >= 0 && code < 32)); then
          printf -v ch '\\u%04x' "$code"
        fi
        out+=$ch
        ;;
    esac
  done
  printf '"%s"' "$out"
}

# result KEY VALUE ...: prints the machine-readable outcome line; values are strings.
result() {
  local line key value
  line="{\"agent\":$(json_escape "$PGFO_AGENT_NAME")"
  while (($# >= 2)); do
    key=$1 value=$2
    shift 2
    [[ -n $value ]] || continue
    line+=",$(json_escape "$key"):$(json_escape "$value")"
  done
  printf 'PGFO_AGENT %s}\n' "$line"
}

die() {
  log error "$*"
  exit 2
}

# usage_of SCRIPT: its header comment (line 2 to `set -Eeuo`), as --help prints it.
usage_of() { sed -n '2,/^set -Eeuo/p' "$1" | sed -e '$d' -e 's/^# \{0,1\}//'; }

now() { printf '%(%s)T' -1; }

# epoch_of RFC1123-TIME: seconds since the epoch (fails on an empty or unreadable time).
epoch_of() {
  [[ -n $1 ]] || return 1
  date -u -d "$1" +%s 2>/dev/null
}

min() { if (($1 < $2)); then printf '%s' "$1"; else printf '%s' "$2"; fi; }

# ---------------------------------------------------------------- JSON (no jq on the VMs)

# One JSON document on stdin → one line per value, "path<TAB>raw": members before their
# container, the root's path empty, paths joined with "." (arrays by index: Events.0.EventId).
# raw is the value's own JSON text (strings keep their quotes and escapes), so an object can be
# forwarded exactly as received. A malformed document prints "!error<TAB>why" and exits 2.
# Written for POSIX awk (mawk on Debian, gawk elsewhere).
# shellcheck disable=SC2016 # an awk program, not shell
PGFO_JSON_AWK='
function fail(msg) { print "!error\t" msg; exit 2 }
function skip(   c) {
  while (pos <= n) { c = substr(s, pos, 1); if (c != " ") break; pos++ }
}
function str(   start, c) {
  start = pos; pos++
  while (pos <= n) {
    c = substr(s, pos, 1)
    if (c == "\\") pos += 2
    else if (c == "\"") { pos++; return substr(s, start, pos - start) }
    else pos++
  }
  fail("unterminated string")
}
function value(path,   c, start, key, i) {
  skip(); start = pos; c = substr(s, pos, 1)
  if (c == "{") {
    pos++; skip()
    if (substr(s, pos, 1) == "}") pos++
    else for (;;) {
      skip()
      if (substr(s, pos, 1) != "\"") fail("expected a member name at offset " pos)
      key = str(); key = substr(key, 2, length(key) - 2)
      skip()
      if (substr(s, pos, 1) != ":") fail("expected : at offset " pos)
      pos++
      value((path == "") ? key : (path "." key))
      skip(); c = substr(s, pos, 1); pos++
      if (c == "}") break
      if (c != ",") fail("expected , or } at offset " (pos - 1))
    }
  } else if (c == "[") {
    pos++; skip(); i = 0
    if (substr(s, pos, 1) == "]") pos++
    else for (;;) {
      value((path == "") ? i : (path "." i)); i++
      skip(); c = substr(s, pos, 1); pos++
      if (c == "]") break
      if (c != ",") fail("expected , or ] at offset " (pos - 1))
    }
  } else if (c == "\"") {
    str()
  } else {
    while (pos <= n && index("+-0123456789.eEtrufalsn", substr(s, pos, 1)) > 0) pos++
    if (pos == start) fail("unexpected character at offset " pos)
  }
  print path "\t" substr(s, start, pos - start)
}
{ gsub(/[\t\r]/, " "); s = s $0 " " }
END {
  n = length(s); pos = 1
  skip()
  if (pos > n) fail("empty document")
  value("")
  skip()
  if (pos <= n) fail("text after the document at offset " pos)
}
'

# json_flatten < document > flat: 0 when the document parsed.
json_flatten() {
  local out
  out=$(awk "$PGFO_JSON_AWK") || {
    printf '%s\n' "$out"
    return 1
  }
  printf '%s\n' "$out"
}

# jget PATH FLAT-FILE: the raw JSON text at PATH; fails when absent.
jget() {
  awk -F '\t' -v p="$1" '$1 == p { sub(/^[^\t]*\t/, ""); print; found = 1; exit } END { exit !found }' "$2"
}

# jstring PATH FLAT-FILE: the string (or number/literal) at PATH without quotes; common escapes undone.
jstring() {
  local raw
  raw=$(jget "$1" "$2") || return 1
  if [[ $raw == \"*\" ]]; then
    raw=${raw:1:${#raw}-2}
    raw=${raw//\\\"/\"}
    raw=${raw//\\\//\/}
    raw=${raw//\\\\/\\}
  fi
  printf '%s' "$raw"
}

# ---------------------------------------------------------------- configuration

PGFO_CONFIG_NAMES=(PGFO_APP_URL PGFO_CLUSTER PGFO_NODE PGFO_VM_NAME PGFO_APP_RESOURCE
  PGFO_IMDS_URL PGFO_STATE_DIR PGFO_POLL_SECONDS PGFO_HTTP_TIMEOUT_SECONDS PGFO_SHUTDOWN_TIMEOUT_SECONDS
  PGFO_CA_FILE PGFO_PREEMPT_FORWARD_SECONDS)

default_config_file() {
  if [[ -n ${PGFO_AGENT_CONFIG-} ]]; then
    printf '%s' "$PGFO_AGENT_CONFIG"
  elif [[ -n ${CREDENTIALS_DIRECTORY-} && -e $CREDENTIALS_DIRECTORY/agent.env ]]; then
    printf '%s' "$CREDENTIALS_DIRECTORY/agent.env"
  else
    printf '%s' /etc/pg-failover/agent.env
  fi
}

# load_config FILE: fills CFG from NAME=value lines (optional single or double quotes; # comments).
load_config() {
  local file=$1 line name value lineno=0 known
  [[ -r $file ]] || die "cannot read the agent configuration $file"
  while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?(PGFO_[A-Z0-9_]+)=(.*)$ ]]; then
      name=${BASH_REMATCH[2]}
      value=${BASH_REMATCH[3]}
      if [[ $value =~ ^\"(.*)\"[[:space:]]*$ || $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then value=${BASH_REMATCH[1]}; fi
      known=0
      local known_name
      for known_name in "${PGFO_CONFIG_NAMES[@]}"; do [[ $known_name == "$name" ]] && known=1; done
      if ((known)); then
        CFG[$name]=$value
      elif [[ $name == PGFO_FUNCTION_KEY || $name == PGFO_AUTH || $name == PGFO_MI_CLIENT_ID ]]; then
        die "$file line $lineno: $name is no longer used: the app's node routes accept only this VM's managed identity token (PGFO_APP_RESOURCE); remove the line (and the key with it) and run install.sh --app-resource <the app's NODE_AUTH_AUDIENCE>"
      else
        log warning "$file line $lineno: unknown setting $name (ignored)"
      fi
    else
      log warning "$file line $lineno: not a PGFO_NAME=value line (ignored)"
    fi
  done <"$file"

  : "${CFG[PGFO_IMDS_URL]:=http://169.254.169.254}"
  : "${CFG[PGFO_STATE_DIR]:=${STATE_DIRECTORY:-/var/lib/pg-failover-agent}}"
  : "${CFG[PGFO_POLL_SECONDS]:=5}"
  : "${CFG[PGFO_HTTP_TIMEOUT_SECONDS]:=20}"
  : "${CFG[PGFO_SHUTDOWN_TIMEOUT_SECONDS]:=120}"
  : "${CFG[PGFO_PREEMPT_FORWARD_SECONDS]:=5}"
  CFG[PGFO_APP_URL]=${CFG[PGFO_APP_URL]%/}
  CFG[PGFO_IMDS_URL]=${CFG[PGFO_IMDS_URL]%/}

  [[ ${CFG[PGFO_APP_URL]-} =~ ^https?://[^[:space:]]+$ ]] || die "PGFO_APP_URL must be the app's base URL (https://<app>.azurewebsites.net)"
  # The token goes with every request: plain http only to this machine (local testing).
  if [[ ${CFG[PGFO_APP_URL]} == http://* && ! ${CFG[PGFO_APP_URL]} =~ ^http://(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost|\[::1\])(:[0-9]+)?(/|$) ]]; then
    die "PGFO_APP_URL must use https:// (the identity token travels with every request); http:// is accepted only for a loopback address, for local testing"
  fi
  [[ ${CFG[PGFO_IMDS_URL]} =~ ^https?://[^[:space:]]+$ ]] || die "PGFO_IMDS_URL must be a URL (default http://169.254.169.254)"
  [[ ${CFG[PGFO_CLUSTER]-} =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "PGFO_CLUSTER must be the cluster's name in the app's configuration"
  [[ ${CFG[PGFO_NODE]-} =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "PGFO_NODE must be this node's name in the app's configuration"
  local number
  for number in PGFO_POLL_SECONDS PGFO_HTTP_TIMEOUT_SECONDS PGFO_SHUTDOWN_TIMEOUT_SECONDS PGFO_PREEMPT_FORWARD_SECONDS; do
    [[ ${CFG[$number]} =~ ^[1-9][0-9]{0,4}$ ]] || die "$number must be a whole number of seconds (1-99999)"
  done
  [[ ${CFG[PGFO_APP_RESOURCE]-} =~ ^[^[:space:]\"\']+$ ]] || die "PGFO_APP_RESOURCE must be the audience the app accepts on its node routes (its NODE_AUTH_AUDIENCE: an Entra application ID URI or application id)"
}

# agent_init CONFIG-FILE: configuration, a private temp directory, the auth header file.
agent_init() {
  load_config "$1"
  pgfo_tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgfo-agent.XXXXXX")
  trap 'rm -rf -- "$pgfo_tmp"' EXIT
  pgfo_auth_header=$pgfo_tmp/auth-headers
  : >"$pgfo_auth_header"
}

# ---------------------------------------------------------------- HTTP

# imds METHOD PATH-AND-QUERY OUT [BODY-FILE] [TIMEOUT]: the metadata service (never through a
# proxy: IMDS refuses forwarded requests). Prints the HTTP status (000: no answer).
imds() {
  local method=$1 path=$2 out=$3 body=${4-} timeout=${5:-10} code
  local args=(-sS --noproxy '*' --max-time "$timeout" -X "$method" -H 'Metadata: true' -o "$out" -w '%{http_code}')
  if [[ -n $body ]]; then args+=(-H 'Content-Type: application/json' --data-binary "@$body"); fi
  code=$(curl "${args[@]}" "${CFG[PGFO_IMDS_URL]}$path" 2>"$pgfo_tmp/imds-error") || true
  printf '%s' "${code:-000}"
}

# refresh_token: this VM's managed identity token for the app (from IMDS) into the header file;
# the app takes it as proof that the caller is this node's VM and no other. Its expiry is kept in
# a file, not a variable: app_post runs in a command substitution, whose variables die with it.
refresh_token() {
  local query status token expires=0
  [[ -s $pgfo_tmp/token-expires ]] && expires=$(<"$pgfo_tmp/token-expires")
  [[ $expires =~ ^[0-9]+$ ]] && (($(now) + 300 < expires)) && return 0
  query="/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$(urlencode "${CFG[PGFO_APP_RESOURCE]}")"
  status=$(imds GET "$query" "$pgfo_tmp/token.json")
  if [[ $status != 200 ]] || ! json_flatten <"$pgfo_tmp/token.json" >"$pgfo_tmp/token.flat"; then
    rm -f -- "$pgfo_tmp/token.json"
    log error "no managed identity token from the metadata service (HTTP $status)"
    return 1
  fi
  token=$(jstring access_token "$pgfo_tmp/token.flat") || return 1
  expires=$(jstring expires_on "$pgfo_tmp/token.flat") || expires=0
  rm -f -- "$pgfo_tmp/token.json" "$pgfo_tmp/token.flat"
  [[ $token =~ ^[A-Za-z0-9._~+/=-]+$ ]] || {
    log error "the metadata service returned an unusable token"
    return 1
  }
  printf 'Authorization: Bearer %s\n' "$token" >"$pgfo_auth_header"
  if [[ $expires =~ ^[0-9]+$ ]]; then printf '%s\n' "$expires" >"$pgfo_tmp/token-expires"; else rm -f -- "$pgfo_tmp/token-expires"; fi
  return 0
}

urlencode() {
  local text=$1 out='' i ch
  for ((i = 0; i < ${#text}; i++)); do
    ch=${text:i:1}
    case $ch in
      [A-Za-z0-9._~-]) out+=$ch ;;
      *) printf -v ch '%%%02X' "'$ch" && out+=$ch ;;
    esac
  done
  printf '%s' "$out"
}

# app_post ROUTE BODY-FILE OUT TIMEOUT: POST to /api/clusters/<cluster>/nodes/<node>/<ROUTE>.
# Prints the HTTP status (000: no answer; the reason is in $pgfo_tmp/app-error); response
# headers go to $pgfo_tmp/app-headers.
app_post() {
  local route=$1 body=$2 out=$3 timeout=$4 code
  refresh_token || {
    printf 'no managed identity token for %s from the metadata service, nothing sent\n' "${CFG[PGFO_APP_RESOURCE]}" >"$pgfo_tmp/app-error"
    : >"$out"
    printf '000'
    return 0
  }
  local url="${CFG[PGFO_APP_URL]}/api/clusters/${CFG[PGFO_CLUSTER]}/nodes/${CFG[PGFO_NODE]}/$route"
  local args=(-sS --max-time "$timeout" -X POST -H "@$pgfo_auth_header" -H 'Content-Type: application/json'
    --data-binary "@$body" -o "$out" -D "$pgfo_tmp/app-headers" -w '%{http_code}')
  if [[ -n ${CFG[PGFO_CA_FILE]-} ]]; then args+=(--cacert "${CFG[PGFO_CA_FILE]}"); fi
  : >"$pgfo_tmp/app-headers"
  code=$(curl "${args[@]}" "$url" 2>"$pgfo_tmp/app-error") || true
  printf '%s' "${code:-000}"
}

# app_answer OUT: flattens an app answer into OUT.flat; sets verdict, answer_detail, answer_operation, answer_retry.
app_answer() {
  local out=$1
  verdict='' answer_detail='' answer_operation='' answer_retry=''
  json_flatten <"$out" >"$out.flat" 2>/dev/null || return 0
  verdict=$(jstring verdict "$out.flat") || verdict=''
  answer_detail=$(jstring reason "$out.flat" || jstring detail "$out.flat") || answer_detail=''
  answer_operation=$(jstring operationId "$out.flat") || answer_operation=''
  answer_retry=$(jstring retryAfter "$out.flat") || answer_retry=''
  [[ $answer_retry =~ ^[0-9]{1,4}$ ]] || answer_retry=''
  return 0
}

# The reason curl gave for not getting an answer, on one line.
app_error() { tr '\n' ' ' <"$pgfo_tmp/app-error" | sed -e 's/[[:space:]]*$//'; }
