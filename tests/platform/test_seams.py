"""The platform seams' Windows and macOS variants, run on Linux: ACL commands through a fake runner, the
registry writer into a temp tree, the Info.plist writer, the trust commands and the doctor hints."""

from __future__ import annotations

import json
import os
import plistlib
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from softphone.platform import files, hints, links, lock, transport, trust


class FakeRunner:
    def __init__(self, rc: int = 0) -> None:
        self.rc = rc
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> int:
        self.calls.append(list(argv))
        return self.rc


# ------------------------------------------------------------------ file protection


def test_windows_acl_is_user_only(tmp_path: Path) -> None:
    run = FakeRunner()
    prot = files.WindowsAclProtection(run, user="CORP\\rep")
    prot.protect_file(tmp_path / "ctl.token")
    prot.protect_dir(tmp_path)
    assert run.calls == [
        ["icacls", str(tmp_path / "ctl.token"), "/inheritance:r", "/grant:r", "CORP\\rep:(F)"],
        ["icacls", str(tmp_path), "/inheritance:r", "/grant:r", "CORP\\rep:(OI)(CI)(F)"],
    ]
    assert prot.commands == run.calls


def test_windows_acl_failure_is_an_error_not_a_silent_public_file(tmp_path: Path) -> None:
    prot = files.WindowsAclProtection(FakeRunner(rc=5), user="rep")
    with pytest.raises(PermissionError, match="icacls exited 5"):
        prot.protect_file(tmp_path / "x")


def test_protection_is_chosen_by_platform() -> None:
    assert isinstance(files.protection_for("win32", FakeRunner()), files.WindowsAclProtection)
    assert isinstance(files.protection_for("darwin"), files.PosixProtection)
    assert isinstance(files.protection_for("linux"), files.PosixProtection)


def test_write_private_protects_before_the_secret_lands_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "ctl.token"
    target.write_text("old")
    seen: list[tuple[Path, str, int]] = []

    class Recording(files.PosixProtection):
        def protect_file(self, path: Path) -> None:
            super().protect_file(path)
            seen.append((path, path.read_text(), stat.S_IMODE(path.stat().st_mode)))

    files.write_private(target, "s3cret", Recording())
    assert target.read_text() == "s3cret" and stat.S_IMODE(target.stat().st_mode) == 0o600
    # protected while still empty, on a temporary name (readers of ctl.token never see a half-written file)
    assert len(seen) == 1 and seen[0][0] != target and seen[0][1:] == ("", 0o600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctl.token"]


def test_write_private_failure_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "ctl.token"
    target.write_text("old")
    with pytest.raises(PermissionError):
        files.write_private(target, "new", files.WindowsAclProtection(FakeRunner(rc=1), user="rep"))
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctl.token"]


# ------------------------------------------------------------------ transport choice and lock


def test_transport_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(transport.TRANSPORT_ENV, raising=False)
    assert transport.transport_kind() == "unix"           # Linux; Windows picks tcp (typed for win32 by mypy)
    monkeypatch.setenv(transport.TRANSPORT_ENV, "TCP")
    assert transport.transport_kind() == "tcp"
    monkeypatch.setenv(transport.TRANSPORT_ENV, "pipe")
    with pytest.raises(ValueError, match="'unix' or 'tcp'"):
        transport.transport_kind()


def test_tcp_endpoint_port_file_is_user_only_and_unpublished_only_by_its_owner(tmp_path: Path) -> None:
    run = FakeRunner()
    ep = transport.Endpoint(tmp_path, "ctl", "tcp", protection=files.WindowsAclProtection(run, user="rep"))
    sock = ep.listen()
    try:
        assert run.calls and run.calls[0][-1] == "rep:(F)"     # the ACL went on before the secret was written
        assert ep.listening()
        assert ep.client_secret() == ep.secret and ep.address()[1] == sock.getsockname()[1]
        ep.path.write_text(json.dumps({"port": 1, "pid": os.getpid() + 1, "secret": "x"}))  # a newer engine's
        ep.unpublish()
        assert ep.path.exists()
    finally:
        sock.close()


def test_file_lock_is_exclusive(tmp_path: Path) -> None:
    first = lock.FileLock.try_acquire(tmp_path / "x.lock")
    assert first is not None and lock.FileLock.try_acquire(tmp_path / "x.lock") is None
    first.release()
    again = lock.FileLock.try_acquire(tmp_path / "x.lock")
    assert again is not None
    again.release()


# ------------------------------------------------------------------ link handlers


EXE = "C:\\Program Files\\Softphone\\SoftphoneApp.exe"


def test_windows_link_handlers_into_a_registry_tree(tmp_path: Path) -> None:
    reg = links.TreeRegistry(tmp_path / "HKCU")
    written = links.register_windows(reg, EXE)
    for scheme in ("tel", "sip", "sips", "callto"):
        key = f"Software\\Classes\\{scheme}"
        assert key in written
        assert reg.values(key) == {"": f"URL:{scheme} link", "URL Protocol": ""}
        assert reg.values(f"{key}\\shell\\open\\command") == {"": f'"{EXE}" "%1"'}
    assert reg.values("Software\\Softphone\\Capabilities\\URLAssociations")["callto"] == links.PROG_ID
    assert reg.values("Software\\RegisteredApplications") == {"Softphone": "Software\\Softphone\\Capabilities"}
    text = reg.to_reg()
    assert text.startswith("Windows Registry Editor Version 5.00\r\n")
    assert '[HKEY_CURRENT_USER\\Software\\Classes\\tel\\shell\\open\\command]\r\n' \
           '@="\\"C:\\\\Program Files\\\\Softphone\\\\SoftphoneApp.exe\\" \\"%1\\""' in text
    reg.delete_tree("Software\\Classes\\tel")
    assert reg.values("Software\\Classes\\tel") == {}


def test_registry_tree_refuses_keys_that_escape_it(tmp_path: Path) -> None:
    reg = links.TreeRegistry(tmp_path / "HKCU")
    with pytest.raises(ValueError):
        reg.set_value("Software\\..\\..\\evil", "", "x")
    with pytest.raises(ValueError):
        links.windows_command('C:\\a"b.exe')


def test_macos_url_types_into_info_plist(tmp_path: Path) -> None:
    plist = tmp_path / "Info.plist"
    plist.write_bytes(plistlib.dumps({"CFBundleIdentifier": "com.example.softphone", "CFBundleURLTypes": [
        {"CFBundleURLName": "Other", "CFBundleURLSchemes": ["x-other"]},
        {"CFBundleURLName": links.URL_TYPE_NAME, "CFBundleURLSchemes": ["tel"]}]}))
    links.write_url_types(plist)
    links.write_url_types(plist)                                   # idempotent
    data = plistlib.loads(plist.read_bytes())
    assert data["CFBundleIdentifier"] == "com.example.softphone"
    assert data["CFBundleURLTypes"] == [
        {"CFBundleURLName": "Other", "CFBundleURLSchemes": ["x-other"]},
        {"CFBundleURLName": "Phone links", "CFBundleTypeRole": "Viewer",
         "CFBundleURLSchemes": ["tel", "sip", "sips", "callto"]}]


# ------------------------------------------------------------------ trust and doctor


def test_trust_commands_per_platform(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    home = Path("/Users/rep")
    assert trust.install_argv("win32", ca, home) == [("certutil", "-user", "-addstore", "Root", str(ca))]
    assert trust.install_argv("darwin", ca, home) == [(
        "security", "add-trusted-cert", "-r", "trustRoot", "-k", "/Users/rep/Library/Keychains/login.keychain-db",
        str(ca))]
    assert trust.install_argv("linux", ca, home) == []
    assert trust.uninstall_argv("win32", ca, "nick") == [("certutil", "-user", "-delstore", "Root", "nick")]


def test_doctor_explains_macos_input_monitoring() -> None:
    assert any("Input Monitoring" in h for h in hints.headset_hints("darwin"))
    assert not any("Input Monitoring" in h for h in hints.headset_hints("linux"))
    assert any("Microphone" in h for h in hints.microphone_hints("darwin"))


def test_install_desktop_windows_variant_writes_hkcu(tmp_path: Path) -> None:
    """`softphone install-desktop` on Windows, with the registry redirected into a temp tree."""
    from softphone.desktop import install

    reg = links.TreeRegistry(tmp_path / "HKCU")
    report = install.install_windows(reg)
    assert report.desktop_file is None and all(report.handlers.values()) and len(report.handlers) == 4
    command = reg.values("Software\\Classes\\sip\\shell\\open\\command")[""]
    assert command.endswith('"-m" "softphone" "%1"')             # a source install: the interpreter runs us
    assert "HKCU\\Software\\Classes\\tel" in install.describe(report)
    assert install.install_windows(links.TreeRegistry(tmp_path / "none"), set_default=False).handlers == {}
    assert not (tmp_path / "none").exists()


def test_installer_registry_section_is_generated_from_the_seam(tmp_path: Path) -> None:
    """The Inno Setup [Registry] lines come from register_windows: installer and install-desktop agree."""
    import subprocess
    import sys

    out = tmp_path / "registry.iss"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, str(root / "packaging" / "windows" / "registry_iss.py"), str(out)], check=True)
    lines = out.read_text().splitlines()
    reg = links.TreeRegistry(tmp_path / "HKCU")
    expected = links.register_windows(reg, "{app}\\SoftphoneApp.exe")
    for key in expected:
        assert any(f'Subkey: "{key}"' in line for line in lines), key
    assert 'Root: HKCU; Subkey: "Software\\Classes\\callto\\shell\\open\\command"; ValueType: string; ' \
           'ValueName: ""; ValueData: """{app}\\SoftphoneApp.exe"" ""%1"""; Flags: uninsdeletekey' in lines
    assert sum("uninsdeletevalue" in line for line in lines) == 1       # RegisteredApplications is shared
    assert '#include Repo + "\\build\\registry.iss"' in (root / "packaging" / "windows" / "softphone.iss").read_text()
