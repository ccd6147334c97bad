"""Local CA, security helpers, packaged assets and `softphone cert` (real certutil into a temp NSS db)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from softphone.widget import assets, certs, security


def test_ca_is_name_constrained_to_loopback(tmp_path: Path) -> None:
    paths = certs.ensure_certificates(tmp_path)
    ca = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert set(nc.value.permitted_subtrees or []) == {
        x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
        x509.IPAddress(ipaddress.ip_network("::1/128"))}
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    leaf = x509.load_pem_x509_certificate(paths.leaf.read_bytes())
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                           ipaddress.ip_address("::1")}
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=398)
    for p in (paths.ca_key, paths.leaf_key):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.directory.stat().st_mode) == 0o700


def test_certificates_are_reused_and_renewed(tmp_path: Path) -> None:
    paths = certs.ensure_certificates(tmp_path)
    ca1, leaf1 = paths.ca.read_bytes(), paths.leaf.read_bytes()
    certs.ensure_certificates(tmp_path)
    assert (paths.ca.read_bytes(), paths.leaf.read_bytes()) == (ca1, leaf1)
    paths.leaf.write_text("garbage")
    certs.ensure_certificates(tmp_path)
    assert paths.ca.read_bytes() == ca1 and paths.leaf.read_bytes() not in (leaf1, b"garbage")
    paths.ca_key.unlink()                              # lost CA key: a new CA and a new leaf
    certs.ensure_certificates(tmp_path)
    assert paths.ca.read_bytes() != ca1
    leaf = x509.load_pem_x509_certificate(paths.leaf.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(paths.ca.read_bytes()))
    key = serialization.load_pem_private_key(paths.leaf_key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()  # type: ignore[union-attr]


def test_install_steps_per_platform(tmp_path: Path) -> None:
    paths = certs.ensure_certificates(tmp_path)
    nick = certs.nickname(paths)
    mac = certs.install_steps(paths, home=Path("/Users/rep"), os_name="Darwin")
    assert mac[0].argv[:4] == ("security", "add-trusted-cert", "-r", "trustRoot")
    win = certs.install_steps(paths, os_name="Windows")
    assert win[0].argv == ("certutil", "-user", "-addstore", "Root", str(paths.ca))
    ff = tmp_path / "home" / ".mozilla" / "firefox" / "abc.default"
    ff.mkdir(parents=True)
    (ff / "cert9.db").write_bytes(b"")
    lin = certs.install_steps(paths, home=tmp_path / "home", os_name="Linux", system=False)
    assert [s.argv[2] for s in lin] == [f"sql:{tmp_path / 'home' / '.pki' / 'nssdb'}", f"sql:{ff}"]
    assert all(s.argv[-4:] == ("-n", nick, "-i", str(paths.ca)) for s in lin)
    assert lin[0].create_dir == tmp_path / "home" / ".pki" / "nssdb" and lin[1].create_dir is None


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SOFTPHONE_DATA_DIR=str(tmp_path / "data"), SOFTPHONE_CONFIG=str(tmp_path / "c.toml"),
               HOME=str(tmp_path / "home"))
    return subprocess.run([sys.executable, "-c", "import sys; from softphone.cli import main; sys.exit(main())",
                           *args], env=env, capture_output=True, text=True, timeout=60)


def test_cert_cli_path_and_install_into_nss(tmp_path: Path) -> None:
    if shutil.which("certutil") is None:
        pytest.fail("certutil is not installed: run `make test` or `apt-get install libnss3-tools`", pytrace=False)
    r = run_cli(tmp_path, "cert", "path")
    assert r.returncode == 0, r.stderr
    ca = Path(r.stdout.strip())
    assert ca == tmp_path / "data" / "certs" / "ca.pem" and ca.exists()
    assert run_cli(tmp_path, "cert", "path", "--leaf").stdout.strip().endswith("localhost.pem")
    dry = run_cli(tmp_path, "cert", "install", "--dry-run", "--no-system")
    assert dry.returncode == 0 and "certutil -d sql:" in dry.stdout
    assert not (tmp_path / "home" / ".pki" / "nssdb" / "cert9.db").exists()
    db = tmp_path / "home" / ".pki" / "nssdb"
    r = run_cli(tmp_path, "cert", "install", "--no-system")
    assert r.returncode == 0, r.stdout + r.stderr
    listed = subprocess.run(["certutil", "-d", f"sql:{db}", "-L"], capture_output=True, text=True, check=True)
    assert "Softphone local CA" in listed.stdout and "C,," in listed.stdout
    r = run_cli(tmp_path, "cert", "uninstall", "--no-system")
    assert r.returncode == 0, r.stderr
    listed = subprocess.run(["certutil", "-d", f"sql:{db}", "-L"], capture_output=True, text=True, check=True)
    assert "Softphone local CA" not in listed.stdout


# ------------------------------------------------------------------ security helpers


def test_hosts_and_origins() -> None:
    assert security.allowed_hosts(9025) == {"localhost:9025", "127.0.0.1:9025", "[::1]:9025"}
    allowed = ["https://app.hubspot.com"]
    assert security.origin_allowed("https://app.hubspot.com/", allowed)
    assert security.origin_allowed("HTTPS://APP.HUBSPOT.COM", allowed)
    for bad in (None, "", "null", "https://app.hubspot.com.evil.example", "https://evil.example",
                "http://app.hubspot.com", "https://app.hubspot.com:444"):
        assert not security.origin_allowed(bad, allowed), bad
    assert security.frame_ancestors(["https://a.example", "https://a.example"]) == \
        "frame-ancestors 'self' https://a.example"


def test_token_protocol_parsing() -> None:
    assert security.token_from_protocols("softphone.v1, auth.abc_DEF-1") == "abc_DEF-1"
    assert security.token_from_protocols("softphone.v1") is None
    assert security.token_from_protocols(None) is None
    assert security.token_ok("abc", "abc") and not security.token_ok("abd", "abc")
    assert not security.token_ok(None, "abc") and not security.token_ok("", "abc")


def test_peer_uid_from_proc_table(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    me = os.getuid()
    table.write_text(header
                     + f"   0: 0100007F:2331 0100007F:C350 01 00000000:00000000 00:00000000 00000000  {me}  0 1\n"
                     + "   1: 0100007F:C351 0100007F:2331 01 00000000:00000000 00:00000000 00000000  4242  0 2\n"
                     + f"   2: 0100007F:C350 0100007F:2331 01 00000000:00000000 00:00000000 00000000  {me}  0 3\n")
    # 0x2331 = 9009 (our port), 0xC350 = 50000, 0xC351 = 50001
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux /proc only")
    assert security.peer_uid(50000, 9009, [table]) == me
    assert security.peer_uid(50001, 9009, [table]) == 4242
    assert security.same_user(50000, 9009, [table])
    assert not security.same_user(50001, 9009, [table])
    assert security.same_user(50002, 9009, [table])          # unknown: cannot tell, allowed
    assert security.peer_uid(1, 2, [tmp_path / "missing"]) is None


def test_packaged_web_assets_match_ui_sources() -> None:
    if not assets.sdk_source_dir().is_dir():
        pytest.fail("ui/node_modules is missing: run `make setup` (it runs `npm ci` in ui/)", pytrace=False)
    assert assets.check() == [], "run: .venv/bin/python -m softphone.widget.assets --sync"
    stamp = assets.vendor_stamp()
    assert stamp["package"] == "@hubspot/calling-extensions-sdk" and stamp["version"] == "0.9.7"
