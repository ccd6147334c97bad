"""The one worker-thread helper: order, timers on the same thread, results and errors across threads."""

from __future__ import annotations

import threading
import time

import pytest

from softphone.worker import Worker, WorkerTimeout


def test_jobs_and_timers_run_in_order_on_the_worker() -> None:
    seen: list[tuple[str, str]] = []
    w = Worker("t-order")
    w.start()
    try:
        for i in range(5):
            w.submit(lambda i=i: seen.append((f"job{i}", threading.current_thread().name)))
        w.later(0.05, lambda: seen.append(("timer", threading.current_thread().name)))
        w.call(lambda: None)
        time.sleep(0.15)
        w.call(lambda: None)
    finally:
        w.stop()
    assert [s[0] for s in seen] == ["job0", "job1", "job2", "job3", "job4", "timer"]
    assert {s[1] for s in seen} == {"t-order"}


def test_call_returns_result_and_reraises() -> None:
    w = Worker("t-call")
    w.start()
    try:
        assert w.call(lambda: threading.current_thread().name) == "t-call"
        with pytest.raises(ZeroDivisionError):
            w.call(lambda: 1 / 0)
        # the worker survived the failure
        assert w.call(lambda: 42) == 42
        # a call made on the worker runs at once instead of deadlocking
        assert w.call(lambda: w.call(lambda: 7)) == 7
    finally:
        w.stop()


def test_failing_job_is_reported_and_thread_goes_on() -> None:
    errors: list[BaseException] = []
    w = Worker("t-err", on_error=errors.append)
    w.start()
    try:
        w.submit(lambda: {}["missing"])
        assert w.call(lambda: "alive") == "alive"
    finally:
        w.stop()
    assert len(errors) == 1 and isinstance(errors[0], KeyError)


def test_start_and_stop_hooks_run_on_the_thread_after_queued_jobs() -> None:
    where: list[str] = []
    w = Worker("t-hooks", on_start=lambda: where.append("start:" + threading.current_thread().name),
               on_stop=lambda: where.append("stop:" + threading.current_thread().name))
    w.start()
    w.submit(lambda: where.append("job"))
    w.stop()
    assert where == ["start:t-hooks", "job", "stop:t-hooks"]
    assert not w.running


def test_start_error_is_raised_to_the_caller() -> None:
    def boom() -> None:
        raise RuntimeError("no transport")

    w = Worker("t-boom", on_start=boom)
    with pytest.raises(RuntimeError, match="no transport"):
        w.start()
    assert not w.running


def test_call_times_out_when_the_worker_is_stuck() -> None:
    gate = threading.Event()
    w = Worker("t-stuck")
    w.start()
    try:
        w.submit(gate.wait)
        with pytest.raises(WorkerTimeout):
            w.call(lambda: None, timeout=0.1)
    finally:
        gate.set()
        w.stop()


def test_idle_runs_only_when_quiet() -> None:
    ticks: list[float] = []
    w = Worker("t-idle", idle=lambda: ticks.append(time.monotonic()), idle_s=0.02)
    w.start()
    time.sleep(0.2)
    w.stop()
    assert len(ticks) >= 3
