"""The control API over both transports: the Unix socket (Linux/macOS) and the loopback TCP port (Windows).

``SOFTPHONE_CONTROL_TRANSPORT`` picks the seam's variant; the engine subprocesses inherit it from the test's
environment, and the in-process client reads the same variable, so both ends use the same transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.platform.transport import TRANSPORT_ENV
from tests.peers import engines


@pytest.fixture(params=["unix", "tcp"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    kind = str(request.param)
    monkeypatch.setenv(TRANSPORT_ENV, kind)
    return kind


@pytest.fixture
def engine_factory(transport: str, tmp_path: Path) -> Iterator[object]:
    """The integration suite's ``engine_factory``, with the transport chosen by ``transport``."""
    with engines(tmp_path) as make:
        yield make
