"""The one event bus between the core and every adapter (baresip's bevent model).

Single-threaded by contract: publish and handlers run on the runtime loop thread. Adapters on other threads
hand their events over with ``loop.call_soon_threadsafe``. A failing subscriber is logged and isolated so a
broken surface (say, a headset) can never stop history from being written or a call from ending.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[type, list[Handler]] = defaultdict(list)
        self._any: list[Handler] = []

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Register ``handler`` for events of exactly ``event_type``; returns an unsubscribe function."""
        self._subs[event_type].append(handler)
        return lambda: self._remove(self._subs[event_type], handler)

    def subscribe_all(self, handler: Handler) -> Callable[[], None]:
        self._any.append(handler)
        return lambda: self._remove(self._any, handler)

    def publish(self, event: object) -> None:
        for handler in (*self._subs.get(type(event), ()), *self._any):
            try:
                handler(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", handler, type(event).__name__)

    @staticmethod
    def _remove(lst: list[Handler], handler: Handler) -> None:
        if handler in lst:
            lst.remove(handler)
