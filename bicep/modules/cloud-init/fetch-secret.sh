#!/usr/bin/env bash
# pg-sample-fetch-secret VAULT_URL SECRET_NAME TARGET_FILE: reads a Key Vault secret with this VM's
# managed identity into TARGET_FILE (0600, replaced by one rename). The value never reaches a
# command line or the log: curl saves the answer in a private temporary directory (removed on
# exit), awk decodes it into TARGET_FILE. The VM's role on the secret can take minutes to take
# effect: no token, 401, 403, 408, 429, 5xx, no answer are retried PG_SAMPLE_SECRET_ATTEMPTS times
# (120), PG_SAMPLE_SECRET_RETRY_SECONDS apart (10). 404, a 403 for the network (not the role), or
# another answer fails at once (exit 2).
# Tests set PG_SAMPLE_IMDS_URL, PG_SAMPLE_VAULT_RESOURCE, PG_SAMPLE_AGENT_LIB, TMPDIR (/run).
PGFO_AGENT_NAME=pg-sample-fetch-secret
# shellcheck source-path=SCRIPTDIR source=../../../agent/lib.sh
. "${PG_SAMPLE_AGENT_LIB:-/usr/local/src/pg-failover-agent/lib.sh}"

(($# == 3)) || die "usage: pg-sample-fetch-secret VAULT_URL SECRET_NAME TARGET_FILE"
vault=${1%/} name=$2 target=$3 attempts=${PG_SAMPLE_SECRET_ATTEMPTS:-120} pause=${PG_SAMPLE_SECRET_RETRY_SECONDS:-10}
[[ $name =~ ^[0-9A-Za-z-]{1,127}$ && $target == /* && $attempts =~ ^[1-9][0-9]{0,3}$ && $pause =~ ^[0-9]{1,3}$ ]] || die "bad SECRET_NAME, TARGET_FILE or retry settings"
# The token's audience: Key Vault (https://vault.azure.net in Azure's public cloud).
if [[ $vault =~ ^https://[A-Za-z0-9-]+\.(vault\.[A-Za-z0-9.-]+)$ ]]; then
  resource=${PG_SAMPLE_VAULT_RESOURCE:-https://${BASH_REMATCH[1]}}
elif [[ $vault =~ ^http://127\.[0-9.]+:[0-9]+$ && -n ${PG_SAMPLE_VAULT_RESOURCE-} ]]; then
  resource=$PG_SAMPLE_VAULT_RESOURCE
else
  die "VAULT_URL must be the vault's URI, https://<vault>.vault.azure.net/"
fi
tmp=$(mktemp -d "${TMPDIR:-/run}/pg-sample-secret.XXXXXX")
part=''
trap 'rm -rf -- "$tmp"; [[ -z $part ]] || rm -f -- "$part"' EXIT

# why FILE: the error codes of an answer, or curl's reason when there was none.
why() { { grep -o '"\(code\|error\|error_description\)" *: *"[^"]*"' "$1" || cat "$tmp/err"; } 2>/dev/null | paste -sd ' '; }

reason=''
for ((attempt = 1; ; attempt++)); do
  if [[ ! -s $tmp/auth ]]; then
    status=$(curl -sS --noproxy '*' --max-time 10 -H 'Metadata: true' -o "$tmp/token" -w '%{http_code}' \
      "${PG_SAMPLE_IMDS_URL:-http://169.254.169.254}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$(urlencode "$resource")" 2>"$tmp/err") || true
    if [[ $status == 200 ]] && json_flatten <"$tmp/token" >"$tmp/token.flat"; then
      jstring access_token "$tmp/token.flat" | awk '/^[A-Za-z0-9._~+\/=-]+$/ { print "Authorization: Bearer " $0 }' >"$tmp/auth" || true
    fi
    [[ -s $tmp/auth ]] || reason="no managed identity token from the metadata service (HTTP $status $(why "$tmp/token"))"
    rm -f -- "$tmp/token" "$tmp/token.flat"
  fi
  if [[ -s $tmp/auth ]]; then
    status=$(curl -sS --max-time 20 -H "@$tmp/auth" -o "$tmp/answer" -w '%{http_code}' "$vault/secrets/$name?api-version=7.4" 2>"$tmp/err") || true
    case $status in
      200) break ;;
      401) reason="Key Vault refused the token (HTTP 401 $(why "$tmp/answer"))" && rm -f -- "$tmp/auth" ;;
      403)
        # Refused for the network, not the role (inner error ForbiddenByConnection: public access
        # off and not through the private endpoint; ForbiddenByFirewall: the vault's firewall):
        # waiting will not change that.
        if grep -q '"code" *: *"ForbiddenBy\(Connection\|Firewall\)"' "$tmp/answer" 2>/dev/null; then
          die "Key Vault refused this VM's network, not its role, for secret $name (HTTP 403 $(why "$tmp/answer")): the VM reached the vault's public address, not its private endpoint; ${vault#https://} must resolve to a private address here (private DNS zone privatelink.vaultcore.azure.net linked to this VM's network)"
        fi
        reason="no access to secret $name yet (HTTP 403 $(why "$tmp/answer")): the VM's role on it takes minutes to take effect"
        ;;
      404) die "Key Vault $vault has no secret $name (HTTP 404 $(why "$tmp/answer")): the deployment writes it (deploySampleCluster)" ;;
      000 | 408 | 429 | 5??) reason="no answer from Key Vault (HTTP $status $(why "$tmp/answer"))" ;;
      *) die "Key Vault answered HTTP $status for secret $name: $(why "$tmp/answer")" ;;
    esac
    rm -f -- "$tmp/answer"
  fi
  ((attempt < attempts)) || die "gave up on secret $name after $attempts attempts: $reason"
  log info "secret $name, attempt $attempt of $attempts: $reason; next try in ${pause}s"
  sleep "$pause"
done

# The answer's "value", a JSON string, decoded (\uXXXX to UTF-8); a control character fails.
# shellcheck disable=SC2016 # an awk program
decode='function hex(s,  i, d, v) { for (i = 1; i <= 4; i++) { d = index("0123456789abcdef", tolower(substr(s, i, 1))); if (!d) exit 3; v = v * 16 + d - 1 } return v }
function put(c) { if (c < 32) exit 3; if (c < 128) printf "%c", c
  else if (c < 2048) printf "%c%c", 192 + int(c / 64), 128 + c % 64
  else if (c < 65536) printf "%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64
  else printf "%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64, 128 + int(c / 64) % 64, 128 + c % 64 }
NR > 1 || !/^".*"$/ { exit 3 }
{ for (i = 2; i < length($0); i++) { ch = substr($0, i, 1)
    if (ch != "\\") { printf "%s", ch; continue }
    ch = substr($0, ++i, 1)
    if (ch == "\"" || ch == "\\" || ch == "/") printf "%s", ch
    else if (ch != "u") exit 3
    else { c = hex(substr($0, i + 1, 4)); i += 4
      if (c >= 55296 && c < 56320 && substr($0, i + 1, 2) == "\\u") { c = 65536 + (c - 55296) * 1024 + hex(substr($0, i + 3, 4)) - 56320; i += 6 }
      put(c) } } }'
json_flatten <"$tmp/answer" >"$tmp/answer.flat" || die "Key Vault's answer for secret $name is not JSON"
rm -f -- "$tmp/answer"
part=$(mktemp "$(dirname -- "$target")/.pg-sample-secret.XXXXXX")
jget value "$tmp/answer.flat" | awk "$decode" >"$part" || die "secret $name is not a string without control characters (line breaks, tabs)"
[[ -s $part ]] || die "secret $name is empty"
chmod 600 -- "$part"
mv -f -- "$part" "$target" && part=''
log info "secret $name written to $target"
