"""The NAT lab (network namespaces, nftables, kamailio + rtpengine, coturn, PulseAudio) for the whole
``tests/nat`` run. It needs root: anything missing fails every test with what to do, never a skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nat import lab as labmod
from tests.nat.topology import TopologyError

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/nat" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labmod.Lab]:
    try:
        with labmod.lab(tmp_path_factory.mktemp("natlab")) as the_lab:
            yield the_lab
    except TopologyError as exc:
        pytest.fail(f"the NAT lab cannot be built here: {exc}", pytrace=False)


@pytest.fixture(autouse=True)
def _router_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that changed the rep's router (symmetric NAT, new port ranges after a restart, port forwards) leaves
    it as a home router is by default: port-preserving, port-restricted, nothing forwarded."""
    yield
    if "lab" in request.fixturenames:
        request.getfixturevalue("lab").reset_router()
