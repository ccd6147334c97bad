"""Fixtures of the voice-quality tests: a missing tool fails with the command that installs it, never a skip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.quality import farend, phones
from tests.quality import rig as rigmod

TOOLS = {"pulseaudio": "pulseaudio", "pacat": "pulseaudio-utils", "parec": "pulseaudio-utils",
         "sipp": "sip-tester", "flite": "flite"}


@pytest.fixture(scope="module")
def quality_tools() -> None:
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    try:
        import pesq  # noqa: F401
    except ImportError:
        pytest.fail("the pesq package is not installed: run `make setup` (or `.venv/bin/pip install pesq`)",
                    pytrace=False)
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make test` or `apt-get install {' '.join(missing)}`",
                    pytrace=False)


@pytest.fixture(scope="module")
def rig(quality_tools: None) -> Iterator[rigmod.Rig]:
    with rigmod.rig() as r:
        yield r


@pytest.fixture(scope="module")
def pcmu_far(quality_tools: None) -> Iterator[farend.EchoFarEnd]:
    far = farend.EchoFarEnd("PCMU")
    yield far
    far.stop()


@pytest.fixture(scope="module")
def ours(rig: rigmod.Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[phones.OurPhone]:
    phone = phones.OurPhone(rig.daemon, Path(tmp_path_factory.mktemp("engine")))
    yield phone
    phone.stop()
