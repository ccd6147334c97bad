"""Engine events → the window: one thread reads the control API's event stream and hands every event on.

It reconnects by itself (the engine may still be starting, or be restarted) and reports the link as a
synthetic ``{"type": "engine", "connected": bool}`` event, so the page and the tray can say "starting" or
"not running" instead of showing stale state. Page delivery runs on a ``Worker`` of its own because pywebview's
``run_js`` blocks until the page answered, and events must reach the page in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from softphone.desktop.engine import EngineClient, error_payload
from softphone.worker import Worker

log = logging.getLogger(__name__)

Deliver = Callable[[dict[str, Any]], None]
RETRY_MIN_S = 0.2
RETRY_MAX_S = 2.0


class EventPump:
    def __init__(self, client: EngineClient, deliver: Deliver) -> None:
        self._client = client
        self._deliver = deliver
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="engine-events", daemon=True)
        self._ready = threading.Event()
        self.connected = False

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def stop(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(3)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._run())
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            loop.close()

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        reported: bool | None = None
        while True:
            reason = "The phone engine is not running."
            try:
                async for event in self._client.events():
                    if not self.connected:
                        self.connected = True
                        reported = True
                        delay = RETRY_MIN_S
                        self._emit({"type": "engine", "connected": True})
                    self._emit(event)
                reason = "The phone engine stopped."
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = error_payload(exc)["message"] if self.connected else reason
                log.debug("event stream: %s", exc)
            self.connected = False
            if reported is not False:
                reported = False
                self._emit({"type": "engine", "connected": False, "message": reason})
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self._deliver(event)
        except Exception:
            log.exception("delivering %s failed", event.get("type"))


class PageFeed:
    """Pushes events into the page in order: ``window.softphoneApp.onEvent(<json>)``."""

    def __init__(self, evaluate_js: Callable[[str], Any]) -> None:
        self._evaluate = evaluate_js
        self._closed = False
        self._worker = Worker("page-feed", on_error=lambda exc: log.debug("page did not take an event: %s", exc))
        self._worker.start()

    def push(self, event: dict[str, Any]) -> None:
        payload = json.dumps(event, default=str)
        self.run_js(f"window.softphoneApp && window.softphoneApp.onEvent({payload})")

    def run_js(self, script: str) -> None:
        self._worker.submit(lambda: self._run(script))

    def close(self) -> None:
        """The window is going: what is still queued is dropped (the page it was for is closing)."""
        self._closed = True
        self._worker.stop(timeout=2.0)

    def _run(self, script: str) -> None:
        if not self._closed:
            self._evaluate(script)
