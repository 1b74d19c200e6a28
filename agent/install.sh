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
#
# The node agent (node-agent.py: the load balancer's probes /primary and /replica, the write lease;
# README.md "Node agent"), installed with --node-address:
#   --node-address ADDR    this node's address, as the standbys' primary_conninfo names it
#   --peers LIST           the other nodes' agents, NAME=HOST:PORT,... (the lease failsafe asks them)
#   --probe-port PORT      the probes' port, the app's loadBalancer.agentPort (default 8432)
#   --steps-port PORT      also run the app's node steps, over HTTPS on ADDR:PORT (the app's
#                          nodeAgent.stepsPort, 8433). The app sends each script; the agent runs
#                          only those whose SHA-256 is in vm-scripts.sha256 beside this file (the
#                          agent bundle's), or computed from src/vm-scripts/ of a checkout. Needs
#                          polkitd: a polkit rule lets the agent (user postgres) start and stop
#                          --pg-service only.
#   --steps-tls-cert FILE  PEM certificate for ADDR from the cluster's CA (postgres.sslRootCertSecret),
#                          or a self-signed one pinned in Key Vault (nodeAgent.certificateSecretPrefix)
#   --steps-tls-key FILE   its private key (the agent runs as postgres and must be able to read both)
#   --steps-key-file FILE  this node's step key (Key Vault secret <nodeAgent.stepKeySecretPrefix>-<node>,
#                          base64 of 32 random bytes), copied to /etc/pg-failover/step-key (root, 0600):
#                          systemd hands it to the agent only (LoadCredential=); delete FILE afterwards
#   --enroll-steps         instead of --steps-key-file: make the step key here (once) and have
#                          pg-failover-step-enrollment.service give it to the app with the
#                          self-signed --steps-tls-cert (nodeAgent.certificateSecretPrefix)
#   --pg-data-dirs LIST    what the steps may write, comma-separated (default /var/lib/postgresql,/etc/postgresql)
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
node_address='' peers='' probe_port=8432 steps_port='' steps_cert='' steps_key='' step_key_file='' enroll=0
pg_data_dirs=/var/lib/postgresql,/etc/postgresql
while (($#)); do
  case $1 in
    --app-url | --cluster | --node | --vm-name | --app-resource | --pg-service | --shutdown-timeout | --root | \
      --node-address | --peers | --probe-port | --steps-port | --steps-tls-cert | --steps-tls-key | --steps-key-file | --pg-data-dirs)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --node-address) node_address=$2 ;;
        --peers) peers=$2 ;;
        --probe-port) probe_port=$2 ;;
        --steps-port) steps_port=$2 ;;
        --steps-tls-cert) steps_cert=$2 ;;
        --steps-tls-key) steps_key=$2 ;;
        --steps-key-file) step_key_file=$2 ;;
        --pg-data-dirs) pg_data_dirs=$2 ;;
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
    --enroll-steps) enroll=1 ;;
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
is_port() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535)); }
host_re='^[A-Za-z0-9.:-]{1,253}$'
if [[ -n $node_address ]]; then
  [[ $node_address =~ $host_re ]] || die "--node-address must be this node's address (e.g. 10.0.0.4)"
  is_port "$probe_port" || die "--probe-port must be a port, 1-65535"
  for peer in ${peers//,/ }; do
    [[ $peer =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)=([A-Za-z0-9.-]{1,253}):([1-9][0-9]{0,4})$ && ${BASH_REMATCH[1]} != "$node" ]] ||
      die "--peers must list the OTHER nodes' agents as NAME=HOST:PORT,... (e.g. pg2=10.0.0.5:8432,pg3=10.0.0.6:8432); '$peer' is not one"
  done
elif [[ -n $peers || -n $steps_port ]]; then
  die "--peers and --steps-port configure the node agent: give --node-address too"
fi
if [[ -n $steps_port ]]; then
  { is_port "$steps_port" && [[ $steps_port != "$probe_port" ]]; } || die "--steps-port must be a port, 1-65535, other than --probe-port"
  declare -A step_files=([--steps-tls-cert]=$steps_cert [--steps-tls-key]=$steps_key [--steps-key-file]=$step_key_file)
  if ((enroll)); then
    [[ -z $step_key_file ]] || die "--steps-key-file and --enroll-steps exclude each other: give the step key, or let this node make it and enroll it"
    unset 'step_files[--steps-key-file]'
  fi
  for option in "${!step_files[@]}"; do
    file=${step_files[$option]}
    [[ $file == /* && -f $file && -r $file ]] || die "$option must be a readable file, by its absolute path (the node steps need the certificate, its key and the step key, given or --enroll-steps)"
  done
  if ((enroll)); then
    grep -q -- '-----BEGIN CERTIFICATE-----' "$steps_cert" || die "--steps-tls-cert must be a PEM certificate (the app pins it when the node enrolls)"
    if ! subject=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$steps_cert" 2>/dev/null) || ! issuer=$(openssl x509 -noout -issuer -nameopt RFC2253 -in "$steps_cert" 2>/dev/null); then
      die "--steps-tls-cert must be a PEM certificate openssl can read"
    fi
    [[ ${subject#subject=} == "${issuer#issuer=}" ]] || die "--enroll-steps pins the --steps-tls-cert certificate, which must be self-signed (it is issued by ${issuer#issuer=}); with a certificate from the cluster's CA give --steps-key-file instead"
    openssl x509 -noout -checkend 0 -in "$steps_cert" >/dev/null || die "--steps-tls-cert has expired: make a new self-signed certificate (the app pins only one in date)"
  fi
  # The agent reads the certificate and its key itself, as postgres, in a sandbox that hides /home,
  # /root and /run/user and has its own /tmp: a file it could not read would stop the whole agent,
  # probes included. (With --root the files belong to another system image: not checked.)
  for option in --steps-tls-cert --steps-tls-key; do
    [[ -z $root ]] || continue
    file=$(realpath -e -- "${step_files[$option]}")
    case $file in
      /home/* | /root/* | /run/user/* | /tmp/* | /var/tmp/*) die "$option must not be under /home, /root, /run/user, /tmp or /var/tmp (it is $file): the agent's sandbox hides them (ProtectHome=, PrivateTmp=)" ;;
    esac
    runuser -u postgres -- test -r "$file" || die "$option must be readable by the postgres user, which the agent runs as (e.g. PostgreSQL's server.crt/server.key in its data directory, or a group it is in)"
  done
  if ((!enroll)); then
    key_bytes=$(tr -d '\n\r' <"$step_key_file" | base64 -d 2>/dev/null | wc -c) || key_bytes=0
    ((key_bytes >= 32)) || die "--steps-key-file must hold the node's step key: base64 of at least 32 random bytes (openssl rand -base64 32)"
  fi
  [[ -f $here/vm-scripts.sha256 || -f $here/../src/vm-scripts/lib.sh ]] ||
    die "the node steps need the VM scripts' digests beside install.sh (vm-scripts.sha256, in the agent bundle) or a checkout (src/vm-scripts/)"
  IFS=, read -ra data_dirs <<<"$pg_data_dirs"
  ((${#data_dirs[@]})) || die "--pg-data-dirs must list absolute directories, comma-separated"
  for dir in "${data_dirs[@]}"; do [[ $dir =~ ^/[A-Za-z0-9._/@-]+$ ]] || die "--pg-data-dirs must list absolute directories, comma-separated ('$dir' is not one)"; done
  if [[ -z $root ]] && ! command -v pkcheck >/dev/null && [[ ! -x /usr/lib/polkit-1/polkitd ]]; then
    die "the node steps need polkitd (apt-get install polkitd): its rule lets the agent start and stop $pg_service"
  fi
elif [[ -n $steps_cert || -n $steps_key || -n $step_key_file ]] || ((enroll)); then
  die "--steps-tls-cert, --steps-tls-key, --steps-key-file and --enroll-steps go with --steps-port"
fi
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

events_changed=${#changed[@]}

node_unit=pg-failover-node-agent.service
steps_dropin=$unit_dir/$node_unit.d/10-steps.conf
polkit_rule=$root/etc/polkit-1/rules.d/50-pg-failover-node-agent.rules
if [[ -n $node_address ]]; then
  {
    printf '# pg-failover node agent configuration (written by install.sh; nothing secret in it)\n'
    printf 'PGFO_NODE=%s\nPGFO_NODE_ADDRESS=%s\nPGFO_PEERS=%s\nPGFO_PROBE_LISTEN=0.0.0.0:%s\n' "$node" "$node_address" "$peers" "$probe_port"
    if [[ -n $steps_port ]]; then
      printf 'PGFO_STEPS_LISTEN=%s:%s\nPGFO_STEPS_TLS_CERT=%s\nPGFO_STEPS_TLS_KEY=%s\n' "$node_address" "$steps_port" "$steps_cert" "$steps_key"
      # Where systemd puts the credential 10-steps.conf loads (systemd 250+).
      printf 'PGFO_STEPS_KEY_FILE=/run/credentials/%s/step-key\nPGFO_STEPS_SCRIPT_DIGESTS=%s\n' "$node_unit" "${lib_dir#"$root"}/vm-scripts.sha256"
    fi
  } >"$work/node-agent.env"
  put 0600 "$work/node-agent.env" "$conf_dir/node-agent.env"
  put 0755 "$here/node-agent.py" "$lib_dir/node-agent.py"
  for file in "$here"/node_agent/*.py; do put 0644 "$file" "$lib_dir/node_agent/${file##*/}"; done
  put 0644 "$here/systemd/$node_unit" "$unit_dir/$node_unit"
  if [[ -n $steps_port ]]; then
    if ((!enroll)); then
      put 0600 "$step_key_file" "$conf_dir/step-key"
    elif [[ ! -s $conf_dir/step-key ]]; then
      # Made here, once: only the app (through the enrollment) and the agent ever see it.
      (umask 077 && head -c 32 /dev/urandom | base64 >"$work/step-key")
      put 0600 "$work/step-key" "$conf_dir/step-key"
    fi
    # The digests of the scripts this app version sends (a checkout's, by the agent's own reading).
    if [[ -f $here/vm-scripts.sha256 ]]; then
      cp -- "$here/vm-scripts.sha256" "$work/vm-scripts.sha256"
    else
      (cd "$here" && python3 -c 'import sys; from node_agent.steps import digests_of_dir; sys.stdout.write("".join(f"{d}  {n}\n" for n, d in digests_of_dir(sys.argv[1]).items()))' "$here/../src/vm-scripts") >"$work/vm-scripts.sha256" ||
        die "could not read the VM scripts in $here/../src/vm-scripts"
    fi
    put 0644 "$work/vm-scripts.sha256" "$lib_dir/vm-scripts.sha256"
    {
      printf '# written by install.sh: the node steps (--steps-port) write the data and configuration\n'
      printf '# directories; the step key reaches the agent only, as a credential.\n[Service]\n'
      printf 'LoadCredential=step-key:/etc/pg-failover/step-key\nReadWritePaths=%s\n' "$(printf -- '-%s ' "${data_dirs[@]}" | sed 's/ $//')"
    } >"$work/10-steps.conf"
    put 0644 "$work/10-steps.conf" "$steps_dropin"
    # polkit's JavaScript (duktape: ES5): the agent may start and stop PostgreSQL's unit, nothing else.
    cat >"$work/polkit.rules" <<RULES
// written by pg-failover install.sh: the node agent (user postgres) runs the app's node steps,
// which start and stop $pg_service; it may do that and nothing else through systemd.
polkit.addRule(function (action, subject) {
  if (action.id === "org.freedesktop.systemd1.manage-units" && subject.user === "postgres" &&
      action.lookup("unit") === "$pg_service" &&
      (action.lookup("verb") === "start" || action.lookup("verb") === "stop")) {
    return polkit.Result.YES;
  }
});
RULES
    put 0644 "$work/polkit.rules" "$polkit_rule"
  else
    for file in "$steps_dropin" "$polkit_rule" "$conf_dir/step-key" "$lib_dir/vm-scripts.sha256"; do
      if [[ -e $file ]]; then rm -f -- "$file" && changed+=("${file#"$root"}"); fi
    done
  fi
fi
node_changed=$((${#changed[@]} - events_changed))

enroll_unit=pg-failover-step-enrollment.service
enroll_dropin=$unit_dir/$enroll_unit.d/10-certificate.conf
if ((enroll)); then
  put 0755 "$here/step-enrollment.sh" "$lib_dir/step-enrollment.sh"
  put 0644 "$here/systemd/$enroll_unit" "$unit_dir/$enroll_unit"
  # % starts a systemd specifier: doubled.
  printf '# written by install.sh: the certificate the node agent serves its steps with\n[Service]\nLoadCredential=steps.crt:%s\n' "${steps_cert//%/%%}" >"$work/10-certificate.conf"
  put 0644 "$work/10-certificate.conf" "$enroll_dropin"
else
  if [[ -z $root && -d /run/systemd/system && -e $unit_dir/$enroll_unit ]]; then systemctl disable --now --quiet "$enroll_unit" || true; fi
  for file in "$enroll_dropin" "$unit_dir/$enroll_unit" "$lib_dir/step-enrollment.sh"; do
    if [[ -e $file ]]; then rm -f -- "$file" && changed+=("${file#"$root"}"); fi
  done
fi
enroll_changed=$((${#changed[@]} - events_changed - node_changed))

if [[ -z $root && -d /run/systemd/system ]]; then
  if ((${#changed[@]})); then systemctl daemon-reload; fi
  systemctl enable --quiet pg-failover-scheduled-events.service pg-failover-shutdown-hook.service
  [[ -z $node_address ]] || systemctl enable --quiet "$node_unit"
  ((!enroll)) || systemctl enable --quiet "$enroll_unit"
  if ((start)); then
    # start (not restart) the hook: it must be active for its ExecStop to run at shutdown.
    systemctl start pg-failover-shutdown-hook.service
    if ((events_changed)); then systemctl restart pg-failover-scheduled-events.service; else systemctl start pg-failover-scheduled-events.service; fi
    if [[ -n $node_address ]]; then
      if ((node_changed)); then systemctl restart "$node_unit"; else systemctl start "$node_unit"; fi
    fi
    # Not waited for: it asks the app until the app has the enrollment (a done one stays active).
    if ((enroll)); then
      if ((enroll_changed || node_changed)); then systemctl restart --no-block "$enroll_unit"; else systemctl start --no-block "$enroll_unit"; fi
    fi
  fi
elif [[ -z $root ]]; then
  printf 'install.sh: systemd is not running; units installed but not enabled\n' >&2
fi

list=$(printf '%s ' "${changed[@]}")
printf 'PGFO_AGENT {"agent":"install","outcome":"%s","changed":"%s"}\n' "$([[ ${#changed[@]} -gt 0 ]] && echo installed || echo unchanged)" "${list% }"
