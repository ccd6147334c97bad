"""Fixtures that start real peers on loopback. Everything is stopped at the end, even on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import Kamailio, engines, have, sipps

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
    if not have("sipp"):
        pytest.fail("sipp is not installed: run `make test` (it installs the test peers) or "
                    "`apt-get install sip-tester`", pytrace=False)
    with sipps(tmp_path) as make:
        yield make


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[object]:
    with engines(tmp_path) as make:
        yield make
