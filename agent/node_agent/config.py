"""The node agent's settings: one file of PGFO_NAME=value lines, parsed (never executed)."""

from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .steps import StepsConfig, read_digests

DEFAULT_CONFIG_FILE = '/etc/pg-failover/node-agent.env'
# Under systemd the unit hands the file over with LoadCredential= (see the .service file).
CREDENTIAL_NAME = 'node-agent.env'

NODE_NAME = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
LINE = re.compile(r'^\s*(?:export\s+)?(PGFO_[A-Z0-9_]+)=(.*)$')
HOST_PORT = re.compile(r'^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/\[\]]+)):(\d{1,5})$')


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line naming the setting and the fix."""


@dataclass(frozen=True)
class Peer:
    name: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}/peer'


@dataclass(frozen=True)
class Config:
    node: str
    node_address: str
    peers: Tuple[Peer, ...]
    listen_host: str
    listen_port: int
    pg_socket_dir: str
    pg_port: int
    pg_database: str
    psql: str
    check_seconds: float
    peer_timeout_seconds: float
    max_lag_bytes: int
    steps: Optional[StepsConfig] = None
    warnings: Tuple[str, ...] = ()

    @property
    def stale_after_seconds(self) -> float:
        """How long one look stays good: two checks, plus the peers' timeout when a round may ask them."""
        return 2 * self.check_seconds + (self.peer_timeout_seconds if self.peers else 0)


def default_config_file() -> str:
    credentials = os.environ.get('CREDENTIALS_DIRECTORY')
    if credentials and os.path.exists(os.path.join(credentials, CREDENTIAL_NAME)):
        return os.path.join(credentials, CREDENTIAL_NAME)
    return DEFAULT_CONFIG_FILE


def read_settings(path: str) -> Tuple[Dict[str, str], List[str]]:
    """The file's PGFO_NAME=value pairs (optional quotes, # comments) and warnings about other lines."""
    try:
        with open(path, encoding='utf-8') as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise ConfigError(f'cannot read {path}: {error.strerror} (write it as agent/README.md describes, or pass --config FILE)') from None
    settings: Dict[str, str] = {}
    warnings: List[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        match = LINE.match(line)
        if not match:
            warnings.append(f'{path} line {number}: not a PGFO_NAME=value line (ignored)')
            continue
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        if name not in KNOWN:
            warnings.append(f'{path} line {number}: unknown setting {name} (ignored)')
            continue
        settings[name] = value
    return settings, warnings


def load_config(path: str) -> Config:
    settings, warnings = read_settings(path)

    def setting(name: str, parse: Callable[[str], object], must: str, default: Optional[str] = None):
        raw = settings.get(name, default)
        if raw is None or raw == '':
            if default is None:
                raise ConfigError(f'{name} is missing in {path}: set it to {must}')
            raw = default
        try:
            return parse(raw)
        except ValueError:
            raise ConfigError(f'{name}="{raw}" in {path}: must be {must}') from None

    node = setting('PGFO_NODE', _node_name, "this node's name in the app's configuration (lowercase letters, digits, '-')")
    listen_host, listen_port = setting('PGFO_PROBE_LISTEN', _host_port, 'address:port to serve the probes on (e.g. 0.0.0.0:8432)', '0.0.0.0:8432')
    peers = setting('PGFO_PEERS', lambda raw: _peers(raw, node), "a comma list of the other nodes' agents, name=host:port (e.g. pg2=10.0.0.5:8432,pg3=10.0.0.6:8432)", '')
    return Config(
        node=node,
        node_address=setting('PGFO_NODE_ADDRESS', _word, "this node's address as the standbys name it in primary_conninfo (e.g. 10.0.0.4)"),
        peers=peers,
        listen_host=listen_host,
        listen_port=listen_port,
        pg_socket_dir=setting('PGFO_PG_SOCKET_DIR', _absolute_path, "PostgreSQL's unix socket directory (an absolute path)", '/var/run/postgresql'),
        pg_port=setting('PGFO_PG_PORT', _port, 'the PostgreSQL port, 1-65535', '5432'),
        pg_database=setting('PGFO_PG_DATABASE', _word, 'the database that holds pgfo.lease (no spaces)', 'postgres'),
        psql=setting('PGFO_PSQL', _program, 'an installed psql (install postgresql-client, or give its full path)', 'psql'),
        check_seconds=setting('PGFO_CHECK_SECONDS', _seconds(3600), 'a number of seconds above 0 and at most 3600 (e.g. 1)', '1'),
        peer_timeout_seconds=setting('PGFO_PEER_TIMEOUT_SECONDS', _seconds(60), 'a number of seconds above 0 and at most 60 (e.g. 2)', '2'),
        max_lag_bytes=setting('PGFO_MAX_LAG_BYTES', _bytes, 'a whole number of bytes (e.g. 16777216)', str(16 * 1024 * 1024)),
        steps=_steps(settings, setting),
        warnings=tuple(warnings),
    )


DEFAULT_SCRIPT_DIGESTS = '/usr/local/lib/pg-failover-agent/vm-scripts.sha256'


def _steps(settings: Dict[str, str], setting: Callable[..., object]) -> Optional[StepsConfig]:
    """The node steps endpoint: off unless PGFO_STEPS_LISTEN is set; then its TLS files and key are required."""
    if not settings.get('PGFO_STEPS_LISTEN'):
        return None
    host, port = setting('PGFO_STEPS_LISTEN', _host_port, 'address:port to serve the node steps on over HTTPS (e.g. 0.0.0.0:8433)')
    return StepsConfig(
        listen_host=host,
        listen_port=port,
        tls_cert=setting('PGFO_STEPS_TLS_CERT', _readable_file, "a readable PEM certificate for this node's address (e.g. PostgreSQL's server.crt)"),
        tls_key=setting('PGFO_STEPS_TLS_KEY', _readable_file, 'its readable PEM private key'),
        key_file=setting('PGFO_STEPS_KEY_FILE', _readable_file, "a readable file with this node's step key (base64, at least 32 bytes)"),
        # The app sends each script; the agent runs only those whose digest it holds.
        script_digests=setting('PGFO_STEPS_SCRIPT_DIGESTS', _digest_file, 'a readable file of "<sha256>  <script>" lines, one per step the app may ask for (install.sh writes it)', DEFAULT_SCRIPT_DIGESTS),
    )


def _readable_file(raw: str) -> str:
    if not os.path.isabs(raw) or not os.access(raw, os.R_OK) or not os.path.isfile(raw):
        raise ValueError(raw)
    return raw


def _digest_file(raw: str) -> Dict[str, str]:
    return read_digests(_readable_file(raw))


def _node_name(raw: str) -> str:
    if not NODE_NAME.match(raw):
        raise ValueError(raw)
    return raw


def _word(raw: str) -> str:
    if re.search(r'\s', raw):
        raise ValueError(raw)
    return raw


def _host_port(raw: str) -> Tuple[str, int]:
    match = HOST_PORT.match(raw)
    if not match:
        raise ValueError(raw)
    return match.group(1) or match.group(2), _port(match.group(3))


def _port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(raw)
    return int(raw)


def _peers(raw: str, node: str) -> Tuple[Peer, ...]:
    peers: List[Peer] = []
    for item in filter(None, (part.strip() for part in raw.split(','))):
        name, _, address = item.partition('=')
        if not NODE_NAME.match(name) or name == node or any(peer.name == name for peer in peers):
            raise ValueError(raw)
        host, port = _host_port(address)
        peers.append(Peer(name, host, port))
    return tuple(peers)


def _absolute_path(raw: str) -> str:
    if not os.path.isabs(raw):
        raise ValueError(raw)
    return raw


def _program(raw: str) -> str:
    found = shutil.which(raw)
    if not found:
        raise ValueError(raw)
    return found


def _seconds(most: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value) or not 0 < value <= most:
            raise ValueError(raw)
        return value

    return parse


def _bytes(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError(raw)
    return int(raw)


KNOWN = frozenset(
    [
        'PGFO_NODE',
        'PGFO_NODE_ADDRESS',
        'PGFO_PEERS',
        'PGFO_PROBE_LISTEN',
        'PGFO_PG_SOCKET_DIR',
        'PGFO_PG_PORT',
        'PGFO_PG_DATABASE',
        'PGFO_PSQL',
        'PGFO_CHECK_SECONDS',
        'PGFO_PEER_TIMEOUT_SECONDS',
        'PGFO_MAX_LAG_BYTES',
        'PGFO_STEPS_LISTEN',
        'PGFO_STEPS_TLS_CERT',
        'PGFO_STEPS_TLS_KEY',
        'PGFO_STEPS_KEY_FILE',
        'PGFO_STEPS_SCRIPT_DIGESTS',
    ]
)
