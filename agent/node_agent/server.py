"""The HTTP side: the load balancer's probes (empty bodies) and the peers' /peer, plain HTTP, no auth.

Handlers only read the last published Answers; they never touch PostgreSQL, so a probe costs
nothing and cannot pile up work. Every answer carries a deadline on the monotonic clock: when the
loop stops publishing (a psql that hangs, a wedged process), the probes turn 503 by themselves.
An agent told to stop answers every request 503 at once: a peer asking then hears no answer,
not the view of a look its own stop cut short.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Optional
from urllib.parse import urlsplit


STEPS_HEADER = 'X-Pgfo-Steps'
STEPS_NONE = 'none'  # the agent serves no node steps


@dataclass(frozen=True)
class Answers:
    primary_until: float = 0.0  # time.monotonic() deadlines; 0: 503
    replica_until: float = 0.0
    peer_until: float = 0.0
    peer: Dict[str, object] = field(default_factory=dict)


def unknown_peer_view(node: str) -> Dict[str, object]:
    """What /peer says without a fresh look: nothing a failsafe could take as a confirmation."""
    return {'node': node, 'inRecovery': None, 'streaming': False, 'upstreamHost': None, 'timeline': None}


class ProbeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, node: str, answers: Callable[[], Answers], steps_version: str):
        self.address_family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.node = node
        self.answers = answers
        self.steps_version = steps_version
        self.closing = False  # set on SIGTERM/SIGINT, before the loop and the listener wind down
        super().__init__((host, port), ProbeHandler)

    def handle_error(self, request, client_address) -> None:
        # A prober that hangs up once it has the status line is normal; anything else is a bug worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ProbeHandler(BaseHTTPRequestHandler):
    server: ProbeServer
    timeout = 5  # a client that stalls does not hold a thread for long

    def version_string(self) -> str:
        return 'pg-failover-node-agent'

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def __getattr__(self, name: str):
        # BaseHTTPRequestHandler looks up do_<METHOD>; every method but GET and HEAD is refused alike.
        if name.startswith('do_'):
            return self._method_not_allowed
        raise AttributeError(name)

    def log_message(self, *_args: object) -> None:
        pass  # never a log line per probe

    def _answer(self, with_body: bool) -> None:
        # The probes' one header tells the app which step scripts this agent runs (steps.py steps_version):
        # an agent left on another release makes every node step go through Run Command, and the
        # health check says so. Sent while stopping too: a stopping agent is not one of another release.
        steps = {STEPS_HEADER: self.server.steps_version}
        path = urlsplit(self.path).path
        if self.server.closing:
            self._send(503, headers=steps if path in ('/primary', '/replica') else None)
            return
        answers = self.server.answers()
        now = time.monotonic()
        if path == '/primary':
            self._send(200 if now < answers.primary_until else 503, headers=steps)
        elif path == '/replica':
            self._send(200 if now < answers.replica_until else 503, headers=steps)
        elif path == '/peer':
            view = answers.peer if now < answers.peer_until else unknown_peer_view(self.server.node)
            self._send(200, json.dumps(view).encode(), with_body)
        else:
            self._send(404)

    def _method_not_allowed(self) -> None:
        self._send(405, headers={'Allow': 'GET, HEAD'})

    def _send(self, status: int, body: bytes = b'', with_body: bool = True, headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        if body:
            self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if with_body and body:
            self.wfile.write(body)
