"""install-desktop writes a valid entry and registers the link handlers with the real xdg-mime."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from softphone.desktop import install, resources


def test_packaging_file_matches_builtin_template() -> None:
    template = resources.desktop_template()
    assert template is not None
    assert template.read_text(encoding="utf-8") == install.TEMPLATE


def test_entry_points_at_this_installation() -> None:
    text = install.render_entry(["/opt/my venv/bin/softphone"])
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read_string(text)
    sect = entry["Desktop Entry"]
    assert sect["Exec"] == '"/opt/my venv/bin/softphone" %u'
    assert set(sect["MimeType"].strip(";").split(";")) == set(install.MIME_TYPES)
    assert sect["Icon"] == "softphone"


def test_install_registers_handlers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("xdg-mime") is None:
        pytest.fail("xdg-mime is not installed: run `make test` or `apt-get install xdg-utils`", pytrace=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CURRENT_DESKTOP", raising=False)
    report = install.install()
    assert report.desktop_file == tmp_path / "data" / "applications" / "softphone.desktop"
    assert report.icon_file.read_text().startswith("<svg")
    assert report.handlers and all(report.handlers.values()), report.notes
    env = {**os.environ}
    for mime in install.MIME_TYPES:
        out = subprocess.run(["xdg-mime", "query", "default", mime], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == "softphone.desktop"
