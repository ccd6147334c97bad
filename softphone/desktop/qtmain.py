"""Qt pieces of the shell: run a callable on the Qt main thread from any thread, and the page's URL scheme."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt, QThread, Signal, Slot
from PySide6.QtWebEngineCore import (
    QWebEngineProfile,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from softphone.desktop import resources

log = logging.getLogger(__name__)

T = TypeVar("T")


class MainThread(QObject):
    """Create on the main thread; ``post(fn)`` from anywhere runs ``fn()`` there, in order; ``call(fn)`` also
    waits for its result (the shape of ``softphone.worker.Worker``, on the thread Qt owns)."""

    _posted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], Any]) -> None:
        self._posted.emit(fn)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the main thread and return its result here (re-raising what it raised).

        Called on the main thread itself it runs at once (waiting for its own queue would never end)."""
        if QThread.currentThread() == self.thread():
            return fn()
        done = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["v"] = fn()
            except BaseException as exc:
                box["e"] = exc
            finally:
                done.set()
        self.post(run)
        if not done.wait(timeout):
            raise TimeoutError("the Qt main thread did not answer")
        if "e" in box:
            raise box["e"]
        result: T = box["v"]
        return result

    @Slot(object)
    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:
            log.exception("main-thread task failed")


def register_page_scheme() -> None:
    """Declare ``softphone:`` to Chromium; Qt requires this before the QApplication exists.

    Secure (a secure context, like https) and CORS-enabled (module scripts are fetched in CORS mode), with
    host syntax so the page has a real origin (``softphone://app``) that its CSP's 'self' names."""
    scheme = QWebEngineUrlScheme(resources.SCHEME.encode())
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    scheme.setFlags(QWebEngineUrlScheme.Flag.SecureScheme | QWebEngineUrlScheme.Flag.CorsEnabled)
    QWebEngineUrlScheme.registerScheme(scheme)


class PageScheme(QWebEngineUrlSchemeHandler):
    """Answers ``softphone://app/…`` from the page's files (``resources.page_file``), read-only, GET only."""

    def install(self, profile: QWebEngineProfile) -> None:
        profile.installUrlSchemeHandler(resources.SCHEME.encode(), self)

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:
        url = job.requestUrl()
        if url.host() != resources.PAGE_HOST or job.requestMethod() != QByteArray(b"GET"):
            job.fail(QWebEngineUrlRequestJob.Error.RequestDenied)
            return
        path = resources.page_file(url.path())
        if path is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        try:
            body = path.read_bytes()
        except OSError as exc:
            log.warning("page file %s: %s", path, exc)
            job.fail(QWebEngineUrlRequestJob.Error.RequestFailed)
            return
        buf = QBuffer(job)              # the job owns the buffer: it lives until the reply is read
        buf.setData(body)
        buf.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(resources.PAGE_TYPES[path.suffix].encode(), buf)
