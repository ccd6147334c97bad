"""The Windows/macOS build inputs that can be checked without those OSes: entitlements, workflow guards."""

from __future__ import annotations

import plistlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "build.yml"


def test_macos_entitlements_allow_microphone_and_headset() -> None:
    ent = plistlib.loads((ROOT / "packaging" / "macos" / "entitlements.plist").read_bytes())
    assert ent["com.apple.security.device.audio-input"] is True
    assert ent["com.apple.security.device.usb"] is True
    build = (ROOT / "packaging" / "macos" / "build.sh").read_text()
    assert "--options runtime" in build and "hdiutil create" in build      # hardened runtime, a .dmg


def test_workflow_matrix_tests_exist_and_signing_only_with_secrets() -> None:
    text = WORKFLOW.read_text()
    assert "os: [ubuntu-latest, windows-latest, macos-14]" in text
    assert 'python-version: "3.11"' in text
    for path in ("tests/unit", "tests/platform", "tests/widget/test_server.py"):
        assert f"          {path}\n" in text and (ROOT / path).exists(), path
    assert "mypy --platform win32" in text and "mypy --platform darwin" in text
    # every step that touches a signing secret runs only when that secret exists
    steps = re.split(r"\n      - name: ", text)
    for step in steps:
        if "secrets.WINDOWS_SIGN_CERT_PFX_B64 }}" in step:
            assert "env.HAVE_WINDOWS_CERT == 'true'" in step, step
        if "secrets.MACOS_CERT_P12_B64 }}" in step:
            assert "env.HAVE_MACOS_CERT == 'true'" in step, step
    assert "actions/upload-artifact@" in text
    for builder in ("packaging/build-linux.sh", "packaging/windows/build.ps1", "packaging/macos/build.sh"):
        assert builder in text.replace("./packaging", "packaging"), builder
        assert (ROOT / builder).exists()
