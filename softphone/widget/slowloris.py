"""Connection hygiene for the local widget server: slow or greedy clients cannot tie it up.

aiohttp waits for a request's headers for as long as the client likes, and accepts as many connections as
the kernel hands it. A page (or a local program) that opens connections and trickles bytes could exhaust the
server that HubSpot's tabs depend on. ``ConnectionGuard`` wraps aiohttp's protocol factory: every connection
must deliver its first complete request within ``header_timeout_s`` (the middleware calls ``request_seen``),
and no peer address may hold more than ``per_peer`` connections at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ConnectionGuard:
    def __init__(self, factory: Callable[[], Any], *, header_timeout_s: float = 10.0, per_peer: int = 64) -> None:
        self._factory = factory
        self.header_timeout_s = header_timeout_s
        self.per_peer = per_peer
        self._open: Counter[str] = Counter()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self.timed_out = 0
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self._factory())

    def opened(self, transport: asyncio.BaseTransport) -> bool:
        """A connection arrived: False (and it is aborted) when its peer already holds too many."""
        host = _peer(transport)
        if self._open[host] >= self.per_peer:
            self.refused += 1
            log.warning("widget server: %s already has %d connections; refusing another", host, self.per_peer)
            _abort(transport)
            return False
        self._open[host] += 1
        loop = asyncio.get_running_loop()
        self._timers[id(transport)] = loop.call_later(self.header_timeout_s, self._expire, transport)
        return True

    def closed(self, transport: asyncio.BaseTransport) -> None:
        host = _peer(transport)
        self._open[host] -= 1
        if self._open[host] <= 0:
            del self._open[host]
        self._cancel(transport)

    def request_seen(self, transport: asyncio.BaseTransport | None) -> None:
        """A complete request arrived on this connection: it is not a slow client."""
        if transport is not None:
            self._cancel(transport)

    def _cancel(self, transport: asyncio.BaseTransport) -> None:
        timer = self._timers.pop(id(transport), None)
        if timer is not None:
            timer.cancel()

    def _expire(self, transport: asyncio.BaseTransport) -> None:
        if self._timers.pop(id(transport), None) is not None:
            self.timed_out += 1
            log.info("widget server: closing a connection that sent no complete request in %.0f s",
                     self.header_timeout_s)
            _abort(transport)

    @property
    def open_connections(self) -> int:
        return sum(self._open.values())


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else "?"


def _abort(transport: asyncio.BaseTransport) -> None:
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


class _Guarded(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol (whose ``__slots__`` forbid patching it), with the guard's
    bookkeeping at connection start and end."""

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._guard.opened(transport):
            self._transport = transport
            self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.closed(self._transport)
            self._transport = None
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
