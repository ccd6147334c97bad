"""The window's page files: the one rule mapping softphone://app/<path> to a file (resources.page_file)."""

from __future__ import annotations

import pytest

from softphone.desktop import resources


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
