"""Fixtures for the widget's browser tests: Chromium (system binary, headless), the host/attacker page server,
the local CA trusted in Chromium's NSS db, and engines (``softphone serve``) wired to sipp peers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from softphone.widget.certs import CertPaths, ensure_certificates
from tests.peers import EngineProcess, Sipp, account_toml, free_port, sipps, stop_all
from tests.widget.browser import CHROMIUM, CHROMIUM_ARGS, HostPage, HostServer, trusting_home

SCREENSHOTS = Path(os.environ.get("SOFTPHONE_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "screens"))


# the Debian package that brings each peer binary, for the failure message
_PACKAGES = {"chromium": "chromium", "certutil": "libnss3-tools", "sipp": "sip-tester", "kamailio": "kamailio"}


def _needs(binary: str) -> None:
    """A missing peer fails the test with the command that installs it: never a silent skip."""
    if shutil.which(binary) is None and not Path(binary).exists():
        package = _PACKAGES.get(Path(binary).name, Path(binary).name)
        pytest.fail(f"{binary} is not installed: run `make test` (it installs the test peers) or "
                    f"`apt-get install {package}`", pytrace=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return ensure_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def host_server(pki: CertPaths) -> Iterator[HostServer]:
    server = HostServer(pki, free_port(), free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, pki: CertPaths) -> Iterator[Any]:
    _needs(CHROMIUM)
    _needs("certutil")
    from playwright.sync_api import sync_playwright

    home = trusting_home(tmp_path_factory.mktemp("chromium-home"), pki)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                              env={**os.environ, "HOME": str(home)})
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 460, "height": 720}, device_scale_factor=2)
    try:
        yield ctx
    finally:
        ctx.close()


class WidgetEngine(EngineProcess):
    widget_port: int

    @property
    def widget_url(self) -> str:
        return f"https://localhost:{self.widget_port}/"

    def history_row(self, call_id: str) -> dict[str, Any]:
        rows: list[dict[str, Any]] = self.ctl("history", limit=50)["calls"]
        return next(r for r in rows if r["call_id"] == call_id)


@pytest.fixture
def engine(tmp_path: Path, pki: CertPaths, host_server: HostServer) -> Iterator[Callable[..., WidgetEngine]]:
    with stop_all() as started:
        def make(*accounts: str, demo: str = "off", extra: str = "", name: str = "engine",
                 origins: str | None = None) -> WidgetEngine:
            for attempt in range(3):
                port = free_port()
                config = (f'sip_bind_address = "127.0.0.1"\ndemo_line = "{demo}"\nno_answer_timeout_s = 5\n{extra}\n'
                          + "".join(accounts) + f"[widget]\nport = {port}\n")
                e = WidgetEngine(tmp_path / f"{name}-{attempt}", config,
                                 env={"SOFTPHONE_ALLOWED_ORIGINS":
                                      origins if origins is not None else host_server.host_origin})
                e.widget_port = port
                certs = e.data_dir / "certs"
                certs.mkdir(parents=True, exist_ok=True, mode=0o700)
                for src in (pki.ca, pki.ca_key, pki.leaf, pki.leaf_key):
                    shutil.copy2(src, certs / src.name)
                started.append(e)
                e.start()
                if e.ready.get("widget_url") == e.widget_url:
                    return e
                # another suite took the port between our probe and the bind: try another one
                e.stop()
            raise AssertionError(f"widget server did not start: {e.ready}")

        yield make


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    _needs("sipp")
    with sipps(tmp_path) as make:
        yield make


UAC_SCENARIOS = Path(__file__).resolve().parent / "scenarios"     # sipp scenarios of the widget tests (UAC and UAS)


class SippCaller:
    """A sipp UAC (tests/widget/scenarios/*.xml) calling the engine directly: a real inbound call."""

    def __init__(self, scenario: str, target_port: int, service: str, workdir: Path) -> None:
        self.port = free_port()
        self.msglog = workdir / f"uac-{scenario}-{self.port}.log"
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(UAC_SCENARIOS / f"{scenario}.xml"), f"127.0.0.1:{target_port}", "-s", service,
             "-i", "127.0.0.1", "-p", str(self.port), "-mp", str(free_port()), "-m", "1", "-nostdin", "-nd",
             "-trace_msg", "-message_file", str(self.msglog)],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def caller(tmp_path: Path) -> Iterator[Callable[..., SippCaller]]:
    _needs("sipp")
    with stop_all() as started:
        def make(scenario: str, target_port: int, service: str = "+15551230000") -> SippCaller:
            c = SippCaller(scenario, target_port, service, tmp_path)
            started.append(c)
            return c

        yield make


def trunk(sipp_port: int) -> str:
    """An IP-trunk account whose outbound proxy is the sipp peer: every number goes straight to it."""
    return account_toml("Office", "+15551230000", None, auth=False, proxy=f"sip:127.0.0.1:{sipp_port}",
                        extra='accept_calls_from = ["host"]')   # sipp callers on this machine may ring it


@pytest.fixture
def open_host(context: Any, host_server: HostServer) -> Callable[..., HostPage]:
    def make(eng: WidgetEngine, **params: str) -> HostPage:
        return HostPage(context.new_page(), host_server.host_origin, eng.widget_url, **params)
    return make


def shot(hp: HostPage, name: str) -> None:
    hp.screenshot(SCREENSHOTS / f"{name}.png")
