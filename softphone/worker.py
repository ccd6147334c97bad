"""One worker-thread helper: a named thread that runs submitted jobs and timers in order.

Several adapters need the same thing — pjsua2 wants every call on a thread it registered (the SIP command
thread), the audio bridge serialises device changes on its own thread, the headset monitor polls, and the window
hands page calls to a thread of its own. Each used to carry its own queue, timer heap and "run and wait for the
answer" code. This is that code once: jobs run one at a time in submission order, timers run on the same
thread (so a job never races a timer), a failing job is logged and never stops the thread, and ``call``
returns a job's result (or raises its exception) in the caller's thread.

``on_start`` / ``on_stop`` run on the worker thread itself (pjsua2 must create and destroy its Endpoint on the
thread that uses it); ``idle`` runs whenever the queue has been quiet for ``idle_s`` (a poll for adapters that
need one).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[], object]

_STOP = object()


class WorkerTimeout(TimeoutError):
    """The worker did not answer within the caller's timeout (it may be stuck in a job)."""


class Worker:
    """A named daemon thread running jobs and timers in order."""

    def __init__(self, name: str, *, on_start: Job | None = None, on_stop: Job | None = None,
                 idle: Job | None = None, idle_s: float = 1.0,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.name = name
        self._on_start = on_start
        self._on_stop = on_stop
        self._idle = idle
        self._idle_s = idle_s
        self._on_error = on_error
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Job]] = []   # touched on the worker thread only
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 15.0) -> None:
        """Start the thread and wait until ``on_start`` has run; re-raises its exception."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise WorkerTimeout(f"{self.name} did not start")
        if self._start_error is not None:
            self._thread.join(1)
            self._thread = None
            raise self._start_error

    def stop(self, timeout: float = 15.0) -> None:
        """Run ``on_stop`` on the thread after every job already queued, then end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._q.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s did not stop within %.0f s", self.name, timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    # ------------------------------------------------------------------ jobs

    def submit(self, job: Job) -> None:
        """Run ``job`` on the worker, after the jobs already queued. Never blocks."""
        self._q.put(job)

    def later(self, delay_s: float, job: Job) -> None:
        """Run ``job`` on the worker after ``delay_s`` (from any thread)."""
        if self.on_thread():
            self._push_timer(delay_s, job)
        else:
            self._q.put(lambda: self._push_timer(delay_s, job))

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the worker and return its result here (re-raising what it raised).

        Called on the worker itself it runs at once (no self-deadlock)."""
        if self.on_thread():
            return fn()
        box: dict[str, Any] = {}
        done = threading.Event()

        def job() -> None:
            try:
                box["v"] = fn()
            except BaseException as exc:
                box["e"] = exc
            finally:
                done.set()

        self._q.put(job)
        if not done.wait(timeout):
            raise WorkerTimeout(f"{self.name} did not answer within {timeout:.0f} s")
        if "e" in box:
            raise box["e"]
        result: T = box["v"]
        return result

    def drain(self) -> None:
        """On the worker: run every job queued so far (shutdown paths that must not leave work behind)."""
        while True:
            try:
                job = self._q.get_nowait()
            except queue.Empty:
                return
            if job is _STOP:
                self._q.put(_STOP)
                return
            self._run_job(job)  # type: ignore[arg-type]
            job = None  # a drained closure may hold a library object that must die now

    # ------------------------------------------------------------------ the thread

    def _push_timer(self, delay_s: float, job: Job) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._seq), job))

    def _run_job(self, job: Job) -> None:
        try:
            job()
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)
            else:
                log.exception("%s: job failed", self.name)

    def _run(self) -> None:
        try:
            if self._on_start is not None:
                self._on_start()
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            self._loop()
        finally:
            self._timers.clear()
            if self._on_stop is not None:
                try:
                    self._on_stop()
                except Exception:
                    log.exception("%s: stop failed", self.name)

    def _loop(self) -> None:
        while True:
            timeout = self._idle_s
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
            try:
                job = self._q.get(timeout=timeout)
            except queue.Empty:
                job = None
                if self._idle is not None and not (self._timers and self._timers[0][0] <= time.monotonic()):
                    self._run_job(self._idle)
            if job is _STOP:
                return
            if job is not None:
                self._run_job(job)  # type: ignore[arg-type]
                job = None
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                self._run_job(fn)
