#!/usr/bin/env bash
# step-enrollment.sh - ExecStart of pg-failover-step-enrollment.service (install.sh --enroll-steps).
# POST /api/clusters/<cluster>/nodes/<node>/step-enrollment {"certificate": PEM, "stepKey": base64}:
# the app pins this agent's self-signed steps certificate and step key in Key Vault, once (a 409
# says how an operator re-enrolls). Asks again (5 s, doubling to 5 min) until the app answers.
#
# Usage: step-enrollment.sh [--config FILE] [--certificate FILE] [--step-key FILE] [--attempts N]
#   defaults: $CREDENTIALS_DIRECTORY/steps.crt and /step-key (the unit's LoadCredential=); N 0 = never give up
# Outcome: one stdout line PGFO_AGENT {"agent":"step-enrollment","outcome":"enrolled|unchanged|refused|gave-up",...}
# Exit status: 0 enrolled or unchanged, 3 refused, 4 gave up, 2 bad usage or files.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGFO_AGENT_NAME=step-enrollment
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

config='' certificate=${CREDENTIALS_DIRECTORY:-/nonexistent}/steps.crt step_key=${CREDENTIALS_DIRECTORY:-/nonexistent}/step-key attempts=0
while (($#)); do
  case $1 in
    --config | --certificate | --step-key | --attempts)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --config) config=$2 ;;
        --certificate) certificate=$2 ;;
        --step-key) step_key=$2 ;;
        --attempts) attempts=$2 ;;
      esac
      shift
      ;;
    -h | --help)
      usage_of "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument $1 (use --config FILE, --certificate FILE, --step-key FILE, --attempts N)" ;;
  esac
  shift
done
[[ $attempts =~ ^[0-9]{1,6}$ ]] || die "--attempts must be a whole number (0: never give up)"
[[ -r $certificate ]] || die "cannot read the steps certificate $certificate (--certificate FILE)"
grep -q -- '-----BEGIN CERTIFICATE-----' "$certificate" || die "$certificate holds no PEM certificate (--certificate: the agent's steps certificate, never its key)"
[[ -r $step_key ]] || die "cannot read the step key $step_key (--step-key FILE)"
key=$(tr -d '\n\r' <"$step_key")
[[ $key =~ ^[A-Za-z0-9+/]{43,}=*$ ]] || die "$step_key does not hold a step key (base64 of at least 32 bytes)"

agent_init "${config:-$(default_config_file)}"
# $(<file) drops the PEM's last newline: put it back.
printf '{"certificate":%s,"stepKey":"%s"}' "$(json_escape "$(<"$certificate")"$'\n')" "$key" >"$pgfo_tmp/request.json"
unset key

node=${CFG[PGFO_NODE]}
attempt=0
delay=5
while :; do
  attempt=$((attempt + 1))
  status=$(app_post step-enrollment "$pgfo_tmp/request.json" "$pgfo_tmp/answer" "${CFG[PGFO_HTTP_TIMEOUT_SECONDS]}")
  json_flatten <"$pgfo_tmp/answer" >"$pgfo_tmp/answer.flat" 2>/dev/null || : >"$pgfo_tmp/answer.flat"
  detail=$(jstring detail "$pgfo_tmp/answer.flat" 2>/dev/null) || detail=$(head -c 300 "$pgfo_tmp/answer" 2>/dev/null) || detail=''
  case $status in
    200 | 201)
      outcome=$(jstring outcome "$pgfo_tmp/answer.flat" 2>/dev/null) || outcome=enrolled
      log info "the app holds this agent's certificate and step key ($outcome)"
      result outcome "$outcome" node "$node"
      exit 0
      ;;
    400 | 405 | 409 | 413 | 415)
      log error "the app refused the enrollment (HTTP $status): $detail"
      result outcome refused node "$node" detail "HTTP $status: $detail"
      exit 3
      ;;
    000) why="the app cannot be reached: $(app_error)" ;;
    *) why="HTTP $status${detail:+: $detail}" ;;
  esac
  if ((attempts && attempt >= attempts)); then
    result outcome gave-up node "$node" detail "$why"
    exit 4
  fi
  log warning "not enrolled yet ($why); asking again in ${delay}s"
  sleep "$delay"
  delay=$((delay * 2 > 300 ? 300 : delay * 2))
done
