"""Fakes at the core's boundaries (SipPort, Scheduler) for unit tests of pure logic only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any


class FakeSip:
    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.sent.append((name, *[str(a) for a in args]))
        return record

    def names(self) -> list[str]:
        return [s[0] for s in self.sent]


class FakeScheduler:
    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object:
        item = (delay_s, callback)
        self.pending.append(item)
        return item

    def cancel(self, handle: object) -> None:
        if handle in self.pending:
            self.pending.remove(handle)  # type: ignore[arg-type]

    def fire_all(self) -> None:
        items, self.pending = self.pending, []
        for _, cb in items:
            cb()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
