"""Fixtures that start real peers on loopback. Everything is stopped at the end, even on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import EngineProcess, Kamailio, Sipp, have

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    if not have("kamailio"):
        pytest.fail("kamailio is not installed: run `make test` (it installs the test peers) or "
                    "`apt-get install kamailio`", pytrace=False)
    k = Kamailio(tmp_path_factory.mktemp("kamailio")).start()
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture
def sipp_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Sipp] = []

    def make(scenario: str, **kw: object) -> Sipp:
        if not have("sipp"):
            pytest.fail("sipp is not installed: run `make test` (it installs the test peers) or "
                        "`apt-get install sip-tester`", pytrace=False)
        s = Sipp(scenario, workdir=tmp_path, **kw).start()  # type: ignore[arg-type]
        started.append(s)
        return s

    try:
        yield make
    finally:
        for s in started:
            s.stop()


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[object]:
    started: list[EngineProcess] = []

    def make(config: str, name: str = "engine", start: bool = True, **kw: object) -> EngineProcess:
        e = EngineProcess(tmp_path / name, config, **kw)  # type: ignore[arg-type]
        started.append(e)
        if start:
            e.start()
        return e

    try:
        yield make
    finally:
        for e in started:
            e.stop()
