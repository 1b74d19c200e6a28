#!/usr/bin/env bash
# install.sh - installs the pg-failover agent on one PostgreSQL VM (run as root; cloud-init runs it
# at provisioning). Idempotent: running it again with the same settings changes nothing and
# restarts nothing; with new settings it rewrites the configuration and restarts the agent (never
# the shutdown hook unit, whose stop would be taken for a shutdown - the hook ignores such stops).
#
# Usage: install.sh --app-url URL --cluster NAME --node NAME [options]
#   --app-url URL          the failover app (https://<app>.azurewebsites.net)
#   --cluster NAME         the cluster's name in the app's configuration
#   --node NAME            this node's name in the app's configuration
#   --vm-name NAME         this VM's name as Scheduled Events lists it (default: asked from IMDS)
#   --app-resource URI     the audience the app accepts on its node routes (its NODE_AUTH_AUDIENCE:
#                          an Entra application ID URI or application id). The agent authenticates
#                          with this VM's system-assigned managed identity; no key or password is installed.
#   --pg-service UNIT      PostgreSQL's systemd unit (default postgresql@15-main.service)
#   --shutdown-timeout S   how long the shutdown hook waits for the app (default 120)
#   --root DIR             install below DIR and do not touch systemd (tests, image builds)
#   --no-start             enable the units but do not start them
# Result: one stdout line PGFO_AGENT {"agent":"install","outcome":"installed|unchanged",...}
set -Eeuo pipefail
umask 022
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 2
}
usage() { sed -n '2,/^set -Eeuo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

app_url='' cluster='' node='' vm_name='' app_resource=''
pg_service=postgresql@15-main.service shutdown_timeout=120 root='' start=1
while (($#)); do
  case $1 in
    --app-url | --cluster | --node | --vm-name | --app-resource | --pg-service | --shutdown-timeout | --root)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --app-url) app_url=$2 ;;
        --cluster) cluster=$2 ;;
        --node) node=$2 ;;
        --vm-name) vm_name=$2 ;;
        --app-resource) app_resource=$2 ;;
        --pg-service) pg_service=$2 ;;
        --shutdown-timeout) shutdown_timeout=$2 ;;
        --root) root=${2%/} ;;
      esac
      shift
      ;;
    --key-file | --auth | --mi-client-id) die "$1 is gone: the agent authenticates with the VM's managed identity (--app-resource), no function key is installed" ;;
    --no-start) start=0 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

name_re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
[[ $app_url =~ ^https?://[^[:space:]\"\']+$ ]] || die "--app-url must be the app's base URL"
[[ $cluster =~ $name_re ]] || die "--cluster must be a cluster name (lower-case letters, digits, -)"
[[ $node =~ $name_re ]] || die "--node must be a node name (lower-case letters, digits, -)"
[[ -z $vm_name || $vm_name =~ ^[A-Za-z0-9._-]{1,80}$ ]] || die "--vm-name must be a VM name"
[[ $app_resource =~ ^[^[:space:]\"\']+$ ]] || die "--app-resource must be the app's NODE_AUTH_AUDIENCE (an Entra application ID URI or application id)"
[[ $pg_service =~ ^[A-Za-z0-9@._-]+\.service$ ]] || die "--pg-service must be a systemd service unit name"
[[ $shutdown_timeout =~ ^[1-9][0-9]{0,3}$ ]] || die "--shutdown-timeout must be a whole number of seconds"
if [[ -z $root && $EUID -ne 0 ]]; then die "run as root (or with --root DIR)"; fi

lib_dir=$root/usr/local/lib/pg-failover-agent
conf_dir=$root/etc/pg-failover
conf=$conf_dir/agent.env
unit_dir=$root/etc/systemd/system
changed=()

# put MODE SOURCE DEST: copy when the content or mode differs (atomic rename).
put() {
  local mode=$1 source=$2 dest=$3
  if [[ -f $dest ]] && cmp -s -- "$source" "$dest" && [[ $(stat -c '%a' "$dest") == "${mode#0}" ]]; then return 0; fi
  install -D -m "$mode" -- "$source" "$dest.new"
  mv -f -- "$dest.new" "$dest"
  changed+=("${dest#"$root"}")
}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
{
  printf '# pg-failover agent configuration (written by install.sh; no secret: the agent authenticates with the VM'"'"'s managed identity)\n'
  printf 'PGFO_APP_URL=%s\nPGFO_CLUSTER=%s\nPGFO_NODE=%s\n' "$app_url" "$cluster" "$node"
  [[ -z $vm_name ]] || printf 'PGFO_VM_NAME=%s\n' "$vm_name"
  printf 'PGFO_APP_RESOURCE=%s\n' "$app_resource"
  printf 'PGFO_SHUTDOWN_TIMEOUT_SECONDS=%s\n' "$shutdown_timeout"
} >"$work/agent.env"
install -d -m 0700 -- "$conf_dir"
put 0600 "$work/agent.env" "$conf"

put 0755 "$here/scheduled-events-agent.sh" "$lib_dir/scheduled-events-agent.sh"
put 0755 "$here/shutdown-hook.sh" "$lib_dir/shutdown-hook.sh"
put 0644 "$here/lib.sh" "$lib_dir/lib.sh"
[[ ! -f $here/README.md ]] || put 0644 "$here/README.md" "$lib_dir/README.md"
put 0644 "$here/systemd/pg-failover-scheduled-events.service" "$unit_dir/pg-failover-scheduled-events.service"
put 0644 "$here/systemd/pg-failover-shutdown-hook.service" "$unit_dir/pg-failover-shutdown-hook.service"
printf '# written by install.sh: stop the hook before PostgreSQL stops\n[Unit]\nAfter=%s\n' "$pg_service" >"$work/10-postgresql.conf"
put 0644 "$work/10-postgresql.conf" "$unit_dir/pg-failover-shutdown-hook.service.d/10-postgresql.conf"

if [[ -z $root && -d /run/systemd/system ]]; then
  if ((${#changed[@]})); then systemctl daemon-reload; fi
  systemctl enable --quiet pg-failover-scheduled-events.service pg-failover-shutdown-hook.service
  if ((start)); then
    # start (not restart) the hook: it must be active for its ExecStop to run at shutdown.
    systemctl start pg-failover-shutdown-hook.service
    if ((${#changed[@]})); then systemctl restart pg-failover-scheduled-events.service; else systemctl start pg-failover-scheduled-events.service; fi
  fi
elif [[ -z $root ]]; then
  printf 'install.sh: systemd is not running; units installed but not enabled\n' >&2
fi

list=$(printf '%s ' "${changed[@]}")
printf 'PGFO_AGENT {"agent":"install","outcome":"%s","changed":"%s"}\n' "$([[ ${#changed[@]} -gt 0 ]] && echo installed || echo unchanged)" "${list% }"
