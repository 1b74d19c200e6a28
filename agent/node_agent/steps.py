"""The node steps over HTTPS: the app runs its VM scripts here first, Run Command being the fallback.

One route, `POST /steps`. The body names one script of the app's catalogue and carries its
parameters; the agent runs ITS OWN copy of that script (lib.sh followed by the script, exactly the
text the app would send through Run Command) and only when the app's text has the same SHA-256, so
a stolen key runs nothing but the catalogue, as this agent's OS user. Every request is signed with
this node's key (HMAC-SHA256 over method, path, date and body hash) and dated: one older than the
window is refused, one with an id already seen gets that id's answer again and runs nothing.
Steps run one at a time, like Run Command on a VM. With `async`, the answer is 202 at once and the
step runs on (a rejoin may take hours); `{"id", "poll": true}` reads how it is doing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Optional, Tuple


PATH = '/steps'
SCHEME = 'PGFO-HMAC-SHA256'
SCRIPTS = ('inspect', 'stop-clean', 'start', 'promote', 'follow', 'rejoin')
# The request carries the script itself (lib.sh and the step, about 40 KiB for the rejoin).
MAX_BODY_BYTES = 256 * 1024
MAX_TIMEOUT_SECONDS = 86400
# Run Command keeps 4 KiB of each stream; the app reads only the last line of stdout.
KEEP_BYTES = 16 * 1024
REMEMBERED = 512
# A finished run's answer waits this long for its poller (Run Command keeps a run until it is deleted).
KEEP_FINISHED_SECONDS = 3600

ID = re.compile(r'^[A-Za-z0-9._-]{8,100}$')
SHELL_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
SHA256 = re.compile(r'^[0-9a-f]{64}$')


@dataclass(frozen=True)
class StepsConfig:
    listen_host: str
    listen_port: int
    tls_cert: str
    tls_key: str
    key_file: str
    # The SHA-256 of each script text this agent may run (script_text's composition): only these
    # run, whatever a request carries.
    script_digests: Dict[str, str]
    window_seconds: float = 60.0


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def read_key(path: str) -> bytes:
    """The node's key: base64 of at least 32 random bytes, one line (written by the deployment)."""
    with open(path, encoding='ascii') as handle:
        text = handle.read().strip()
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f'{path} does not hold base64 text') from None
    if len(key) < 32:
        raise ValueError(f'{path} holds {len(key)} bytes; the key must be at least 32')
    return key


def signature(key: bytes, method: str, path: str, date: str, body: bytes) -> str:
    message = f'{method}\n{path}\n{date}\n{hashlib.sha256(body).hexdigest()}'.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def digests_of_dir(scripts_dir: str) -> Dict[str, str]:
    """The digests of the scripts in a checkout's or an install's directory (lib.sh and one .sh per step)."""
    return {name: hashlib.sha256(script_text(scripts_dir, name).encode()).hexdigest() for name in SCRIPTS}


def read_digests(path: str) -> Dict[str, str]:
    """A digest file: one "<sha256>  <script>" line per step (what install.sh and the agent bundle write)."""
    digests: Dict[str, str] = {}
    with open(path, encoding='ascii') as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if len(parts) != 2 or not SHA256.match(parts[0]) or parts[1] not in SCRIPTS or parts[1] in digests:
                raise ValueError(f'{path}:{number} is not "<lowercase hex sha256>  <one of {", ".join(SCRIPTS)}>" (each once)')
            digests[parts[1]] = parts[0]
    missing = [name for name in SCRIPTS if name not in digests]
    if missing:
        raise ValueError(f'{path} lists no digest for {", ".join(missing)}')
    return digests


def steps_version(digests: Dict[str, str]) -> str:
    """What the probes tell the app of the steps this agent runs (the X-Pgfo-Steps header): the SHA-256
    of its digest file's lines in catalogue order, as src/vm-scripts/catalogue.ts vmStepsVersion computes it."""
    return hashlib.sha256(''.join(f'{digests[name]}  {name}\n' for name in SCRIPTS).encode()).hexdigest()


def script_text(scripts_dir: str, name: str) -> str:
    """lib.sh, then the script without its shebang: what the app's catalogue sends (src/vm-scripts/catalogue.ts)."""
    with open(os.path.join(scripts_dir, 'lib.sh'), encoding='utf-8') as handle:
        lib = handle.read()
    with open(os.path.join(scripts_dir, f'{name}.sh'), encoding='utf-8') as handle:
        body = re.sub(r'^#!.*\n', '', handle.read(), count=1)
    return f"{lib if lib.endswith(chr(10)) else lib + chr(10)}\n# {'=' * 72} {name}.sh\n{body}"


@dataclass(frozen=True)
class StepRequest:
    id: str
    script: str
    sha256: str
    text: str
    parameters: Dict[str, str]
    secrets: Dict[str, str]
    timeout_seconds: int
    background: bool = False


@dataclass(frozen=True)
class PollRequest:
    id: str


def parse_request(body: bytes) -> 'StepRequest | PollRequest':
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Refused(400, 'malformed', f'the body is not JSON ({error})') from None
    if not isinstance(data, dict):
        raise Refused(400, 'malformed', 'the body must be a JSON object')
    request_id = data.get('id')
    if not isinstance(request_id, str) or not ID.match(request_id):
        raise Refused(400, 'malformed', 'id must be 8 to 100 letters, digits, ".", "_" or "-" (one per logical step)')
    if data.get('poll') is True:
        if set(data) != {'id', 'poll'}:
            raise Refused(400, 'malformed', 'a poll sends only id and poll: true')
        return PollRequest(request_id)
    unknown = sorted(set(data) - {'id', 'script', 'sha256', 'text', 'parameters', 'secrets', 'timeoutSeconds', 'async'})
    if unknown:
        raise Refused(400, 'malformed', f'unknown fields {", ".join(unknown)}: send id, script, sha256, text, parameters, secrets, timeoutSeconds and optionally async')
    script, digest, text, timeout, background = data.get('script'), data.get('sha256'), data.get('text'), data.get('timeoutSeconds'), data.get('async', False)
    if script not in SCRIPTS:
        raise Refused(400, 'malformed', f'script must be one of {", ".join(SCRIPTS)}')
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise Refused(400, 'malformed', 'sha256 must be the lowercase hex SHA-256 of the script text the app would send')
    if not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != digest:
        raise Refused(400, 'malformed', 'text must be the script to run (lib.sh and the step, as Run Command would get it), whose SHA-256 is sha256')
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise Refused(400, 'malformed', f'timeoutSeconds must be a whole number from 1 to {MAX_TIMEOUT_SECONDS}')
    if not isinstance(background, bool):
        raise Refused(400, 'malformed', 'async must be true (answer 202 at once; poll for the end) or false')
    return StepRequest(request_id, script, digest, text, _variables(data, 'parameters'), _variables(data, 'secrets'), timeout, background)


def _variables(data: dict, field: str) -> Dict[str, str]:
    value = data.get(field, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and SHELL_NAME.match(k) and isinstance(v, str) and '\0' not in v for k, v in value.items()):
        raise Refused(400, 'malformed', f'{field} must be an object of shell variable names to strings')
    return dict(value)


@dataclass
class Run:
    body_hash: str
    script: str
    seen_at: float
    answer: Optional[dict] = None
    finished_at: Optional[float] = None


class StepRunner:
    """Runs the catalogue's scripts one at a time and remembers each id's answer for a while."""

    def __init__(self, config: StepsConfig, node: str, log: Callable[..., None]):
        self.config = config
        self.node = node
        self.log = log
        self.key = read_key(config.key_file)
        self.digests = config.script_digests
        self.one_at_a_time = threading.Lock()
        self.runs: 'OrderedDict[str, Run]' = OrderedDict()
        self.changed = threading.Condition()

    def authenticate(self, method: str, path: str, headers, body: bytes, now: float) -> None:
        authorization = headers.get('Authorization', '')
        date = headers.get('X-Pgfo-Date', '')
        if not authorization.startswith(f'{SCHEME} ') or not date:
            raise Refused(401, 'unauthenticated', f'sign the request: Authorization: {SCHEME} <hex HMAC of method, path, X-Pgfo-Date and the body SHA-256 with this node\'s key>')
        expected = signature(self.key, method, path, date, body)
        if not hmac.compare_digest(authorization[len(SCHEME) + 1 :].strip(), expected):
            raise Refused(401, 'unauthenticated', "the signature does not match this node's key (another node's key, or the request was altered)")
        try:
            skew = now - float(date)
        except ValueError:
            raise Refused(401, 'unauthenticated', 'X-Pgfo-Date must be seconds since the epoch') from None
        if abs(skew) > self.config.window_seconds:
            raise Refused(401, 'expired', f"the request is dated {skew:+.0f} s from this node's clock, outside ±{self.config.window_seconds:.0f} s: a replay, or clocks apart (check NTP)")

    def poll(self, request: PollRequest) -> Tuple[int, dict]:
        with self.changed:
            run = self.runs.get(request.id)
            if run is None:
                raise Refused(404, 'unknown-id', f'no step {request.id} is known here (never started, or forgotten: the agent restarted)')
            return self._answer(request.id, run)

    def run(self, request: StepRequest, body_hash: str) -> Tuple[int, dict]:
        """200 and the answer once the step ran; with async, 202 while it runs. A known id gets its own answer again."""
        if request.sha256 != self.digests[request.script]:
            raise Refused(409, 'script-version', f'this agent ships another {request.script} than the app (a different version): use Run Command')
        if request.parameters.get('PGFO_NODE_NAME') != self.node:
            raise Refused(409, 'wrong-node', f'this is the agent of {self.node}, not of {request.parameters.get("PGFO_NODE_NAME")}')
        if request.parameters.get('PGFO_CONTROL') == 'pg_ctl' and os.environ.get('INVOCATION_ID'):
            raise Refused(409, 'control', 'a server started with pg_ctl here would live in the agent\'s sandbox and cgroup: use Run Command (or systemd control)')
        with self.changed:
            run = self.runs.get(request.id)
            if run is not None:
                if run.body_hash != body_hash:
                    raise Refused(409, 'id-reused', f'id {request.id} was used for another request: one id per logical step')
                while run.answer is None and not request.background:
                    self.changed.wait()
                status, answer = self._answer(request.id, run)
                return status, {**answer, 'replayed': True}
            run = self.runs[request.id] = Run(body_hash, request.script, time.monotonic())
            self._forget_old()
        if request.background:
            threading.Thread(target=self._finish, args=(request, run), name=f'step-{request.id}', daemon=True).start()
            return 202, {'id': request.id, 'script': request.script, 'running': True}
        self._finish(request, run)
        return self._answer(request.id, run)

    def _finish(self, request: StepRequest, run: Run) -> None:
        try:
            answer = self._execute(request)
        except Exception as error:  # the script could not even be started: an answer all the same, never a lost run
            answer = {'id': request.id, 'script': request.script, 'exitCode': None, 'timedOut': False, 'stdout': '', 'stderr': f'the agent could not run the script: {error}'}
        with self.changed:
            run.answer, run.finished_at = answer, time.monotonic()
            self.changed.notify_all()

    @staticmethod
    def _answer(request_id: str, run: Run) -> Tuple[int, dict]:
        if run.answer is None:
            return 202, {'id': request_id, 'script': run.script, 'running': True}
        return 200, run.answer

    def _forget_old(self) -> None:
        """A finished run's answer is kept an hour, for a replay or its poller, and never more than REMEMBERED of them."""
        now = time.monotonic()
        for request_id, run in list(self.runs.items()):
            if run.finished_at is not None and (now - run.finished_at > KEEP_FINISHED_SECONDS or len(self.runs) > REMEMBERED):
                del self.runs[request_id]

    def _execute(self, request: StepRequest) -> dict:
        with self.one_at_a_time:
            began = time.monotonic()
            directory = tempfile.mkdtemp(prefix=f'pgfo-step-{request.script}-')
            try:
                path = os.path.join(directory, 'script.sh')
                with open(path, 'w', encoding='utf-8') as handle:
                    handle.write(request.text)
                env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME': directory, 'LANG': 'C.UTF-8', **request.parameters, **request.secrets}
                stdout, stderr, code, timed_out = _spawn(path, directory, env, request.timeout_seconds)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            self.log('step', id=request.id, script=request.script, exitCode=code, timedOut=timed_out, durationMs=round((time.monotonic() - began) * 1000), background=request.background)
            return {'id': request.id, 'script': request.script, 'exitCode': code, 'timedOut': timed_out, 'stdout': stdout, 'stderr': stderr}


def _spawn(path: str, cwd: str, env: Dict[str, str], timeout: int) -> Tuple[str, str, Optional[int], bool]:
    # Its own session: a timeout kills everything the script started.
    child = subprocess.Popen(['/bin/bash', path], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = child.communicate()
        timed_out = True
    return _tail(out), _tail(err), None if timed_out else child.returncode, timed_out


def _tail(data: bytes) -> str:
    return data[-KEEP_BYTES:].decode('utf-8', errors='replace')


class StepsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: StepsConfig, runner: StepRunner):
        self.address_family = socket.AF_INET6 if ':' in config.listen_host else socket.AF_INET
        self.runner = runner
        super().__init__((config.listen_host, config.listen_port), StepsHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(config.tls_cert, config.tls_key)
        # The handshake happens in the request's thread (on its first read), never in the accepting one.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that fails the TLS handshake or hangs up is its own problem, not a trace in the journal


class StepsHandler(BaseHTTPRequestHandler):
    server: StepsServer
    timeout = 10

    def version_string(self) -> str:
        return 'pg-failover-node-agent'

    def log_message(self, *_args: object) -> None:
        pass

    def do_POST(self) -> None:
        try:
            if self.path != PATH:
                raise Refused(404, 'not-found', f'the only route is POST {PATH}')
            body = self._body()
            runner = self.server.runner
            runner.authenticate('POST', PATH, self.headers, body, time.time())
            request = parse_request(body)
            status, answer = runner.poll(request) if isinstance(request, PollRequest) else runner.run(request, hashlib.sha256(body).hexdigest())
        except Refused as refused:
            self.server.runner.log('step-refused', status=refused.status, code=refused.code, detail=refused.detail, client=self.client_address[0])
            self._send(refused.status, {'error': refused.code, 'detail': refused.detail})
            return
        self._send(status, answer)

    def __getattr__(self, name: str):
        if name.startswith('do_'):
            return lambda: self._send(405, {'error': 'method', 'detail': f'use POST {PATH}'}, {'Allow': 'POST'})
        raise AttributeError(name)

    def _body(self) -> bytes:
        length = self.headers.get('Content-Length', '')
        if not length.isdigit():
            raise Refused(411, 'length', 'send Content-Length')
        if int(length) > MAX_BODY_BYTES:
            raise Refused(413, 'too-large', f'the body is over {MAX_BODY_BYTES} bytes')
        return self.rfile.read(int(length))

    def _send(self, status: int, payload: dict, headers: Optional[Dict[str, str]] = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/problem+json' if status >= 400 else 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
