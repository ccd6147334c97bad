"""The window's page files: the one rule mapping softphone://app/<path> to a file (resources.page_file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from softphone.desktop import resources
from softphone.widget import assets

REPO = Path(__file__).resolve().parents[2]


def test_page_and_shared_helpers_are_found() -> None:
    assert resources.page_file("/index.html") == resources.app_dir() / "index.html"
    assert resources.page_file("/main.js") == resources.app_dir() / "main.js"
    assert resources.page_file("/common/dom.js") == resources.common_dir() / "dom.js"


@pytest.mark.parametrize("path", [
    "", "/", "/common", "/common/", "/nope.js", "/.hidden.js", "/%2e%2e/index.html",
    "/../app/index.html", "/../sandbox/sandbox.js", "/common/../../widget/widget.js", "/app.css/..",
    "/../../pyproject.toml", "/../../softphone/desktop/resources.py",
])
def test_nothing_else_is_served(path: str) -> None:
    assert resources.page_file(path) is None


def test_an_installed_copy_serves_the_same_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a source tree the page and its shared helpers come from the copy assets.sync makes
    (softphone/web/app, with common/ inside), which is what a package carries."""
    pkg = tmp_path / "softphone"
    assets.sync(web_dir=pkg / "web")
    monkeypatch.setattr(resources, "_REPO", tmp_path / "no-source-tree")
    monkeypatch.setattr(resources, "_PKG", pkg)
    assert resources.app_dir() == pkg / "web" / "app"
    for path, source in (("/index.html", REPO / "ui" / "app" / "index.html"),
                         ("/store.js", REPO / "ui" / "app" / "store.js"),
                         ("/common/calls.js", REPO / "ui" / "common" / "calls.js")):
        found = resources.page_file(path)
        assert found is not None and found.is_relative_to(pkg / "web" / "app"), path
        assert found.read_bytes() == source.read_bytes()
    assert resources.page_file("/../widget/widget.js") is None
