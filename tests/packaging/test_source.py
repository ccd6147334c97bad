"""Packaging checks that need no build (they run in `make test`, seconds each)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

from tests.packaging import olddata
from tests.packaging.frozen import ROOT, pyproject_version
from tests.peers import EngineProcess


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "packaging" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_version_has_one_source() -> None:
    """pyproject's version is what the installed metadata, ``--version`` and the window's About (bridge.hello)
    report; a stale editable install (version bumped, not reinstalled) fails here, not in a shipped build."""
    want = pyproject_version()
    assert version("softphone") == want, "installed metadata is stale: run `make setup`"
    r = subprocess.run([sys.executable, "-m", "softphone", "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == f"softphone {want}"
    from softphone.desktop.bridge import Bridge

    class _Shell:
        def shell_info(self) -> dict[str, object]:
            return {}

    class _Prefs:
        def all(self) -> dict[str, object]:
            return {}

    assert Bridge(None, _Prefs(), _Shell()).hello()["version"] == want  # type: ignore[arg-type]


def test_changelog_names_the_current_version() -> None:
    text = (ROOT / "docs" / "CHANGELOG.md").read_text()
    assert f"## [{pyproject_version()}]" in text or "## [Unreleased]" in text


def test_frozen_entry_runs_the_engine_command_of_the_window() -> None:
    """The window starts the engine as ``sys.executable -m softphone serve``; in the frozen app sys.executable
    is the app itself, and its entry point turns that into ``softphone serve``."""
    entry = _load("softphone_entry")
    from softphone.desktop.engine import engine_command

    argv = engine_command()
    assert argv[0] == sys.executable
    assert entry.frozen_argv(argv[1:]) == ["serve"]
    assert entry.frozen_argv(["ctl", "dial", "-m"]) == ["ctl", "dial", "-m"]
    assert entry.frozen_argv(["tel:+14155552671"]) == ["tel:+14155552671"]


def test_native_libraries_and_tls_stacks_coexist_in_the_venv() -> None:
    """The self-check the frozen app runs (`--bundle-selftest`), here on the venv: pjsua2's OpenSSL 1.0.2k,
    Python's OpenSSL 3 and Qt's TLS backend, loaded in one process, each complete a real handshake."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, str(ROOT / "packaging" / "bundle_check.py")], capture_output=True,
                       text=True, timeout=120, env=env)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"], r.stdout + r.stderr[-2000:]
    assert report["pjsua2"]["tls_session"]["version"] == "TLSv1.2"
    assert report["pjsua2"]["tls_session"]["first_line"].startswith("REGISTER sips:")
    assert report["python_ssl"]["openssl"].startswith("OpenSSL 3")
    assert report["qt"]["encrypted"] and report["qt"]["supports_ssl"]
    # every runtime dependency, and what the code imports by name (PyInstaller cannot see those)
    assert report["modules"]["missing"] == {}
    assert {"pulsectl", "pywebrtc_audio", "pjsua2", "webview"} <= set(report["modules"]["checked"])
    libs = report["tls_libraries"]
    assert any(p.endswith(".so.1.0.2k") and "pjsua2_python.libs" in p for p in libs), libs
    assert any(Path(p).name == "libssl.so.3" for p in libs), libs


def test_build_digest_follows_content_not_mtimes(tmp_path: Path) -> None:
    build_inputs = _load("build_inputs")
    (tmp_path / "softphone").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1"\n')
    mod = tmp_path / "softphone" / "a.py"
    mod.write_text("x = 1\n")
    first = build_inputs.digest(tmp_path)
    os.utime(mod, (1, 1))
    assert build_inputs.digest(tmp_path) == first
    mod.write_text("x = 2\n")
    assert build_inputs.digest(tmp_path) != first


def test_newer_code_reads_an_older_data_folder(tmp_path: Path) -> None:
    """Upgrade path on the source tree: config, keyring password, certificates, window prefs and the
    schema-1 history of an older release are all used as they are; history is migrated in place."""
    eng = EngineProcess(tmp_path / "rep")
    old = olddata.make_old_data(eng.env)
    config_before = old.config.read_bytes()

    rows = json.loads(eng.cli("history", "--json", check=True).stdout)
    assert {r["call_id"] for r in rows} == {"old-call-1", "old-call-2"}
    first = next(r for r in rows if r["call_id"] == "old-call-1")
    assert (first["notes"], first["engagement_id"], first["end_status"]) == ("asked for a demo", 4242, "COMPLETED")
    accounts = json.loads(eng.cli("account", "list", "--json", check=True).stdout)
    assert [(a["name"], a["password_stored"]) for a in accounts] == [(olddata.ACCOUNT, True)]

    eng.start()
    try:
        assert eng.ready["demo_line"] is True
        call = eng.ctl("dial", number="+14155552671", account="Demo line")
        eng.wait_state(call["call_id"], "ESTABLISHED")
        eng.ctl("hangup")
        assert eng.wait_state(call["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    finally:
        eng.stop()

    version_, cols = olddata.schema(old.data_dir)
    assert version_ == 2 and {"codec", "recording_path", "quality"} <= cols
    statuses = {r["call_id"]: r["end_status"] for r in json.loads(eng.cli("history", "--json", check=True).stdout)}
    assert statuses == {"old-call-1": "COMPLETED", "old-call-2": "MISSED", call["call_id"]: "COMPLETED"}
    assert olddata.ca_sha256(old.data_dir) == old.ca_sha256, "the local CA was replaced: HubSpot tabs lose trust"
    assert olddata.leaf_sha256(old.data_dir) == old.leaf_sha256
    assert old.config.read_bytes() == config_before
    assert json.loads((old.data_dir / "window.json").read_text()) == old.prefs
