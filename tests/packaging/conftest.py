"""Packaging tests. Two kinds:

- source-level checks that run in `make test` (seconds): version source, the frozen entry point's argv rule,
  the native-library/TLS self-check in the venv, an older data folder read by the current code;
- the frozen app itself (tests marked ``frozen``): they need dist/softphone, which takes minutes to build, so
  they run with ``make package-test`` (SOFTPHONE_PACKAGE_TEST=1). Elsewhere they are reported as skipped,
  never as passed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.frozen import PACKAGE_TEST_ENV, FrozenApp, ensure_build, install_copy
from tests.peers import free_port


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "frozen: runs the PyInstaller build (make package-test)")


@pytest.fixture(scope="session")
def frozen_build() -> dict[str, Any]:
    if os.environ.get(PACKAGE_TEST_ENV) != "1":
        pytest.skip("frozen-app tests run with `make package-test` (the build takes minutes; see docs/PACKAGING.md)")
    return ensure_build()


@pytest.fixture(scope="session")
def frozen_exe(frozen_build: dict[str, Any]) -> Iterator[Path]:
    """The build copied to a folder with no source tree around it (like an unpacked tarball); ~500 MB, so it is
    removed at the end instead of being kept with pytest's temp folders."""
    where = Path(tempfile.mkdtemp(prefix="softphone-installed-"))
    try:
        yield install_copy(where)
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def frozen_app(frozen_exe: Path, tmp_path: Path) -> Iterator[FrozenApp]:
    app = FrozenApp(frozen_exe, tmp_path / "user")
    Path(app.env["SOFTPHONE_CONFIG"]).write_text(f"[widget]\nport = {free_port()}\n")
    try:
        yield app
    finally:
        app.stop()
