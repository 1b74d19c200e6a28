"""The node agent's loop: look at PostgreSQL, ask the peers when the failsafe needs them, decide,
act, publish the answers; and the process around it (configuration, HTTP server, signals, log)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Dict, Optional

from .config import Config, ConfigError, default_config_file, load_config
from .decide import AgentState, Decision, Observation, Settings, decide, peer_check_due
from .observe import Postgres, PsqlError
from .peers import ask_peers
from .server import STEPS_NONE, Answers, ProbeServer, unknown_peer_view
from .steps import StepRunner, StepsServer, steps_version

PROGRAM = 'pg-failover-node-agent'


class Log:
    """One JSON line per state change on stderr (the journal), never one per probe."""

    def __init__(self, node: str):
        self.node = node

    def __call__(self, event: str, **fields: object) -> None:
        line = {'time': datetime.now(timezone.utc).isoformat(timespec='milliseconds'), 'component': 'node-agent', 'node': self.node, 'event': event, **fields}
        sys.stderr.write(json.dumps(line) + '\n')
        sys.stderr.flush()


class Agent:
    def __init__(self, config: Config, log: Log):
        self.config = config
        self.log = log
        self.postgres = Postgres(config)
        self.settings = Settings(
            node=config.node,
            node_address=config.node_address,
            peers=tuple(peer.name for peer in config.peers),
            max_lag_bytes=config.max_lag_bytes,
            failsafe_horizon_seconds=config.stale_after_seconds,
        )
        self.state = AgentState()
        self.answers = Answers()  # replaced whole by the loop, read by the HTTP threads
        self.last_failure: Dict[str, str] = {}

    def round(self) -> None:
        began = time.monotonic()
        observation = self.postgres.look()
        peers = ask_peers(self.config.peers, self.config.peer_timeout_seconds) if peer_check_due(observation, self.state, self.settings) else None
        decision = decide(observation, peers, self.state, self.settings)
        for event in decision.events:
            self.log(**event)
        # Fencing closes the probe before it touches PostgreSQL; unfencing opens it only on a later look.
        self.publish(began, observation, decision)
        for action in decision.actions:
            self.perform(action)
        self.state = decision.state

    def perform(self, action: str) -> None:
        try:
            ended = self.postgres.perform(action)
        except PsqlError as error:
            if self.last_failure.get(action) != str(error):
                self.log('action-failed', action=action, error=str(error))
            self.last_failure[action] = str(error)
            return
        self.last_failure.pop(action, None)
        if ended:
            self.log('sessions-ended', action=action, count=ended)

    def publish(self, began: float, observation: Observation, decision: Decision) -> None:
        fresh_until = began + self.config.stale_after_seconds
        primary_until = 0.0
        if decision.primary:
            primary_until = fresh_until if decision.primary_valid_for is None else min(fresh_until, began + decision.primary_valid_for)
        self.answers = Answers(
            primary_until=primary_until,
            replica_until=fresh_until if decision.replica else 0.0,
            peer_until=fresh_until,
            peer=peer_view(self.config.node, observation),
        )


def peer_view(node: str, observation: Observation) -> Dict[str, object]:
    if not observation.reachable:
        return unknown_peer_view(node)
    return {
        'node': node,
        'inRecovery': observation.in_recovery,
        'streaming': observation.streaming,
        'upstreamHost': observation.sender_host if observation.in_recovery else None,
        'timeline': observation.timeline,
    }


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description='Health probes and lease enforcement for one PostgreSQL node of pg-failover.')
    parser.add_argument('--config', metavar='FILE', help=f'settings file (default: $CREDENTIALS_DIRECTORY/node-agent.env, else {default_config_file()})')
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config or default_config_file())
    except ConfigError as error:
        print(f'{PROGRAM}: configuration error: {error}', file=sys.stderr)
        return 2

    log = Log(config.node)
    for warning in config.warnings:
        log('config-warning', detail=warning)
    agent = Agent(config, log)
    try:
        server = ProbeServer(config.listen_host, config.listen_port, config.node, lambda: agent.answers, steps_version(config.steps.script_digests) if config.steps else STEPS_NONE)
    except OSError as error:
        log('listen-failed', address=f'{config.listen_host}:{config.listen_port}', error=error.strerror or str(error))
        return 1
    steps_server = None
    if config.steps:
        try:
            steps_server = StepsServer(config.steps, StepRunner(config.steps, config.node, log))
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            log('steps-failed', address=f'{config.steps.listen_host}:{config.steps.listen_port}', error=str(error))
            return 1
        # The steps need no look at PostgreSQL first: served from start-up.
        threading.Thread(target=steps_server.serve_forever, name='steps', daemon=True).start()

    stop = threading.Event()

    def on_stop(*_: object) -> None:
        server.closing = True
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_stop)
    log('started', listen=f'{config.listen_host}:{config.listen_port}', steps=f'{config.steps.listen_host}:{config.steps.listen_port}' if config.steps else None, peers=[f'{p.name}={p.host}:{p.port}' for p in config.peers], checkSeconds=config.check_seconds)
    serving = False
    last_crash = ''
    while not stop.is_set():
        began = time.monotonic()
        try:
            agent.round()
            last_crash = ''
        except Exception as error:  # the loop must outlive a bug; meanwhile its answers go stale (503)
            if repr(error) != last_crash:
                log('round-failed', error=repr(error))
            last_crash = repr(error)
        if not serving:
            # Bound since start-up (a second agent fails at once), served from the first look on.
            threading.Thread(target=server.serve_forever, name='http', daemon=True).start()
            serving = True
        stop.wait(max(0.0, config.check_seconds - (time.monotonic() - began)))
    if serving:
        server.shutdown()
    server.server_close()
    if steps_server:
        steps_server.shutdown()
        steps_server.server_close()
    log('stopped')
    return 0
