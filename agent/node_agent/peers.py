"""Asking the other nodes' agents (GET /peer) for the failsafe: all at once, each within the timeout."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Dict, Optional, Sequence

from .config import Peer
from .decide import PeerView

MAX_ANSWER_BYTES = 64 * 1024

# Never through a proxy from the environment: the peers are on the cluster's own network.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def ask_peer(peer: Peer, timeout: float) -> Optional[PeerView]:
    """The peer's view, or None when it does not answer (or answers something that is not a view)."""
    try:
        with _opener.open(peer.url, timeout=timeout) as response:
            if response.status != 200:
                return None
            body = json.loads(response.read(MAX_ANSWER_BYTES))
        return PeerView(
            node=str(body['node']),
            in_recovery=body['inRecovery'] if isinstance(body['inRecovery'], bool) else None,
            streaming=body['streaming'] is True,
            upstream_host=body['upstreamHost'] if isinstance(body['upstreamHost'], str) else None,
            timeline=body['timeline'] if isinstance(body['timeline'], int) else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ask_peers(peers: Sequence[Peer], timeout: float) -> Dict[str, Optional[PeerView]]:
    if not peers:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix='peer')
    try:
        asked = {peer.name: pool.submit(ask_peer, peer, timeout) for peer in peers}
        # The socket timeout bounds each step of a request, not the whole; this bounds the round.
        wait(asked.values(), timeout=timeout)
        return {name: future.result() if future.done() else None for name, future in asked.items()}
    finally:
        pool.shutdown(wait=False)
