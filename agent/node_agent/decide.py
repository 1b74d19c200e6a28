"""What the node agent answers and does: a pure function, no I/O, so every rule is unit-tested.

Input: one look at PostgreSQL (Observation), what the peers' agents said when they were asked
(PeerView by name, or None when not asked) and the previous AgentState. Output: the probe
answers, the actions to run (fence, end sessions, unfence) and the events to log.

The lease row is written only by the app; its validity is computed by PostgreSQL itself
(`expires_at > clock_timestamp()`), so no two clocks are ever compared here. The start rule: a
lease last written before this postmaster started is never served, valid or not, and no failsafe
keeps it: a primary that was stopped (or its VM powered off) and is started again waits for the
app to write its lease again, so a failover that saw it stopped need not wait that lease out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

# Actions, run by the loop in this order.
FENCE = 'fence'  # new sessions read-only (ALTER SYSTEM + reload), then end the application's sessions
END_SESSIONS = 'end-sessions'  # a fenced primary ends application sessions that appeared since
UNFENCE = 'unfence'  # ALTER SYSTEM RESET + reload; /primary waits for a look that shows it applied

OK = 'ok'


@dataclass(frozen=True)
class Lease:
    holder: str  # '' = revoked (drained)
    epoch: int
    valid: bool  # expires_at > clock_timestamp(), on the server
    seconds_left: float  # expires_at - clock_timestamp(); negative once lapsed
    since_start: bool  # renewed_at >= pg_postmaster_start_time(): written since PostgreSQL last started


@dataclass(frozen=True)
class Observation:
    reachable: bool
    error: Optional[str] = None
    in_recovery: Optional[bool] = None
    # default_transaction_read_only as new sessions get it; the marker says it is set in
    # postgresql.auto.conf (where the fence puts it), so a restarted agent knows it had fenced.
    read_only: bool = False
    fence_in_force: bool = False
    # pgfo.drained = on (ALTER SYSTEM by the app): out of the read pool until the app resets it.
    drained: bool = False
    lease: Optional[Lease] = None  # None: no table or no row
    wal_receiver_status: Optional[str] = None
    sender_host: Optional[str] = None
    replay_lag_bytes: Optional[int] = None
    timeline: Optional[int] = None
    # Client backends of non-superusers other than the agent's own: what a fence ends.
    other_client_sessions: int = 0

    @property
    def is_primary(self) -> bool:
        return self.reachable and self.in_recovery is False

    @property
    def streaming(self) -> bool:
        return self.reachable and self.in_recovery is True and self.wal_receiver_status == 'streaming'


@dataclass(frozen=True)
class PeerView:
    """A peer agent's GET /peer answer."""

    node: str
    in_recovery: Optional[bool]
    streaming: bool
    upstream_host: Optional[str]
    timeline: Optional[int]


@dataclass(frozen=True)
class Settings:
    node: str
    node_address: str  # as the standbys name this node in primary_conninfo
    peers: Tuple[str, ...]
    max_lag_bytes: int
    # Ask the peers once the lease has less than this left: it may lapse before the next look,
    # and a failsafe confirmed ahead of time keeps /primary from blinking at the lapse.
    failsafe_horizon_seconds: float


@dataclass(frozen=True)
class AgentState:
    fenced: bool = False
    failsafe: bool = False
    primary_reason: str = 'starting'  # OK when /primary answers 200
    replica_reason: str = 'starting'


@dataclass(frozen=True)
class Decision:
    state: AgentState
    primary: bool
    # How long after the look began a /primary 200 holds: the lease's remaining time, or None when
    # it rests on the failsafe (then only as long as the look is fresh).
    primary_valid_for: Optional[float]
    replica: bool
    actions: Tuple[str, ...] = ()
    events: Tuple[Dict[str, object], ...] = field(default_factory=tuple)


def holds_lease(observation: Observation, settings: Settings) -> bool:
    return observation.lease is not None and observation.lease.holder == settings.node


def peer_check_due(observation: Observation, state: AgentState, settings: Settings) -> bool:
    """Whether this round asks the peers: a primary holding a lease that lapsed or soon will."""
    fenced = state.fenced or observation.fence_in_force
    if not settings.peers or fenced or not observation.is_primary or not holds_lease(observation, settings):
        return False
    lease = observation.lease
    return lease.since_start and (not lease.valid or lease.seconds_left < settings.failsafe_horizon_seconds)


def failsafe_problems(peers: Optional[Mapping[str, Optional[PeerView]]], settings: Settings) -> Dict[str, str]:
    """Why the peers do not confirm this node as their primary; empty when every one does."""
    if not settings.peers:
        return {'peers': 'none configured'}
    if peers is None:
        return {'peers': 'not asked'}
    problems: Dict[str, str] = {}
    for name in settings.peers:
        view = peers.get(name)
        if view is None:
            problems[name] = 'no answer'
        elif view.node != name:
            problems[name] = f'answered as {view.node}'
        elif view.in_recovery is None:
            problems[name] = 'does not see its PostgreSQL'
        elif not view.in_recovery:
            problems[name] = 'not in recovery'
        elif not view.streaming:
            problems[name] = 'not streaming'
        elif view.upstream_host != settings.node_address:
            problems[name] = f'streams from {view.upstream_host}'
    return problems


def decide(observation: Observation, peers: Optional[Mapping[str, Optional[PeerView]]], previous: AgentState, settings: Settings) -> Decision:
    actions: List[str] = []
    events: List[Dict[str, object]] = []
    lease = observation.lease
    mine = holds_lease(observation, settings)
    problems = failsafe_problems(peers, settings)
    confirmed = not problems

    # A fence outlives the agent: its marker in postgresql.auto.conf tells a restarted agent.
    fenced = previous.fenced or (observation.reachable and observation.fence_in_force)
    if fenced and not previous.fenced:
        events.append({'event': 'fence-found', 'detail': 'default_transaction_read_only is on in postgresql.auto.conf'})

    failsafe = False
    if observation.is_primary and mine:
        if not lease.since_start:
            if not fenced:
                fenced = True
                actions.append(FENCE)
                events.append({'event': 'fenced', 'reason': 'PostgreSQL started after its lease was last written', 'epoch': lease.epoch})
        elif lease.valid and fenced:
            # The app renewed or granted the lease: undo the fence; /primary waits for a look that shows it undone.
            fenced = False
            actions.append(UNFENCE)
            events.append({'event': 'unfenced', 'epoch': lease.epoch})
        elif not lease.valid and not fenced:
            if confirmed:
                failsafe = True
            else:
                fenced = True
                actions.append(FENCE)
                events.append({'event': 'fenced', 'reason': 'the lease lapsed and the peers do not all confirm this primary', 'epoch': lease.epoch, 'peers': problems})

    if fenced and observation.is_primary and not actions:
        if not observation.fence_in_force:
            actions.append(FENCE)  # the last attempt failed, or someone undid it
        elif observation.other_client_sessions > 0:
            actions.append(END_SESSIONS)

    if failsafe and not previous.failsafe:
        events.append({'event': 'failsafe-entered', 'epoch': lease.epoch, 'peers': sorted(settings.peers)})

    primary_reason, primary_valid_for = _primary_answer(observation, settings, fenced, confirmed)
    replica_reason = _replica_answer(observation, settings)
    if previous.failsafe and not failsafe:
        events.append({'event': 'failsafe-left', 'reason': 'lease valid again' if mine and lease.valid else primary_reason})
    if primary_reason != previous.primary_reason:
        events.append(_probe_event('primary', primary_reason, observation))
    if replica_reason != previous.replica_reason:
        events.append(_probe_event('replica', replica_reason, observation))

    return Decision(
        state=AgentState(fenced=fenced, failsafe=failsafe, primary_reason=primary_reason, replica_reason=replica_reason),
        primary=primary_reason == OK,
        primary_valid_for=primary_valid_for,
        replica=replica_reason == OK,
        actions=tuple(actions),
        events=tuple(events),
    )


def _primary_answer(observation: Observation, settings: Settings, fenced: bool, confirmed: bool) -> Tuple[str, Optional[float]]:
    """Why /primary answers 503 (reasons never carry numbers, so they change only with the state), or OK and for how long."""
    lease = observation.lease
    if not observation.reachable:
        return 'postgres unreachable', None
    if observation.in_recovery:
        return 'in recovery', None
    if lease is None:
        return 'no lease', None
    if lease.holder == '':
        return 'lease revoked', None
    if lease.holder != settings.node:
        return f'lease held by {lease.holder}', None
    if not lease.since_start:
        return 'lease written before this start', None
    if fenced:
        return 'fenced', None
    if observation.read_only:
        return 'default_transaction_read_only is on', None
    if confirmed:
        return OK, None  # the failsafe (or a lease about to lapse, with the peers' confirmation ahead)
    if lease.valid:
        return OK, lease.seconds_left
    return 'lease lapsed', None


def _replica_answer(observation: Observation, settings: Settings) -> str:
    if not observation.reachable:
        return 'postgres unreachable'
    if not observation.in_recovery:
        return 'not in recovery'
    if observation.drained:
        return 'drained by the app (out of the read pool)'
    if observation.wal_receiver_status != 'streaming':
        return f'WAL receiver {observation.wal_receiver_status or "not running"}'
    if observation.replay_lag_bytes is None or observation.replay_lag_bytes > settings.max_lag_bytes:
        return 'replay lag above PGFO_MAX_LAG_BYTES'
    return OK


def _probe_event(probe: str, reason: str, observation: Observation) -> Dict[str, object]:
    event: Dict[str, object] = {'event': f'{probe}-probe', 'healthy': reason == OK, 'reason': reason}
    if not observation.reachable and observation.error:
        event['error'] = observation.error
    if probe == 'replica' and observation.replay_lag_bytes is not None:
        event['replayLagBytes'] = observation.replay_lag_bytes
    return event
