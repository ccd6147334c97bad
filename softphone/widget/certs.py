"""A local certificate authority and a ``localhost`` certificate for the widget server.

HubSpot loads the widget from ``https://localhost:9025/``; browsers refuse self-signed certificates, so on first
run we create a private CA (``$DATA_DIR/certs/ca.pem``) and issue a leaf for ``localhost``, ``127.0.0.1`` and
``::1`` from it. ``softphone cert install`` makes the rep's browsers trust the CA.

The CA is deliberately weak as a CA: it carries a **critical name constraint** limiting it to ``localhost``,
``127.0.0.1`` and ``::1``, so even if its key leaked from the data dir (0600) it could not be used to
impersonate any real site. Its key never leaves this machine; the leaf is re-issued automatically before it
expires (browsers cap server certificates at 398 days).
"""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import os
import platform
import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from softphone.platform import trust

CA_YEARS = 10
LEAF_DAYS = 365
RENEW_BEFORE_DAYS = 30
LEAF_DNS = ("localhost",)
LEAF_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


@dataclass(frozen=True)
class CertPaths:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def leaf(self) -> Path:
        return self.directory / "localhost.pem"

    @property
    def leaf_key(self) -> Path:
        return self.directory / "localhost-key.pem"


def cert_paths(data_dir: Path) -> CertPaths:
    return CertPaths(data_dir / "certs")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _owner_label() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return f"{user}@{socket.gethostname()}"[:50]


def _create_ca(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Softphone (this computer only)"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Softphone local CA {_owner_label()}"),
    ])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(
            permitted_subtrees=[
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
                x509.IPAddress(ipaddress.ip_network("::1/128")),
            ],
            excluded_subtrees=None), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(paths.ca_key, _key_pem(key))
    _write_public(paths.ca, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _create_leaf(paths: CertPaths, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    san = x509.SubjectAlternativeName(
        [x509.DNSName(d) for d in LEAF_DNS] + [x509.IPAddress(ip) for ip in LEAF_IPS])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(paths.leaf_key, _key_pem(key))
    _write_public(paths.leaf, cert.public_bytes(serialization.Encoding.PEM))


def _load_ca(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return None
    return cert, key


def _leaf_ok(paths: CertPaths, ca: x509.Certificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(paths.leaf.read_bytes())
        serialization.load_pem_private_key(paths.leaf_key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(san.get_values_for_type(x509.DNSName)) >= set(LEAF_DNS) and \
        set(san.get_values_for_type(x509.IPAddress)) >= set(LEAF_IPS)


def ensure_certificates(data_dir: Path) -> CertPaths:
    """Create the CA and the localhost leaf if missing, invalid or about to expire. Idempotent."""
    paths = cert_paths(data_dir)
    paths.directory.mkdir(parents=True, exist_ok=True)
    paths.directory.chmod(0o700)
    loaded = _load_ca(paths)
    if loaded is None:
        loaded = _create_ca(paths)
        paths.leaf.unlink(missing_ok=True)
    ca, ca_key = loaded
    if not _leaf_ok(paths, ca):
        _create_leaf(paths, ca, ca_key)
    return paths


def server_context(paths: CertPaths) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(paths.leaf), str(paths.leaf_key))
    return ctx


def ca_fingerprint(paths: CertPaths) -> str:
    cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


def nickname(paths: CertPaths) -> str:
    """The name the CA gets in trust stores (includes a fingerprint prefix: a rotated CA never collides)."""
    return f"Softphone local CA {ca_fingerprint(paths)[:12]}"


# ------------------------------------------------------------------ trusting the CA


@dataclass(frozen=True)
class TrustStep:
    """One command that trusts (or untrusts) the CA somewhere, with who it is for."""

    where: str
    argv: tuple[str, ...]
    needs_root: bool = False
    create_dir: Path | None = None


def nss_databases(home: Path) -> list[Path]:
    """NSS databases Chromium/Chrome (``~/.pki/nssdb``) and Firefox profiles (``cert9.db``) read on Linux."""
    dbs = [home / ".pki" / "nssdb"]
    for root in (home / ".mozilla" / "firefox", home / "snap" / "firefox" / "common" / ".mozilla" / "firefox"):
        if root.is_dir():
            dbs.extend(sorted(p.parent for p in root.glob("*/cert9.db")))
    return dbs


def install_steps(paths: CertPaths, *, home: Path | None = None, system: bool = True,
                  nss_dbs: list[Path] | None = None, os_name: str | None = None) -> list[TrustStep]:
    os_name = os_name or platform.system()
    home = home or Path.home()
    ca = str(paths.ca)
    nick = nickname(paths)
    steps: list[TrustStep] = []
    if os_name == "Darwin":    # the commands come from the platform trust seam (one place per OS)
        return [TrustStep("macOS login keychain (Safari, Chrome)", argv)
                for argv in trust.install_argv("darwin", paths.ca, home)]
    if os_name == "Windows":
        return [TrustStep("Windows user certificate store (Edge, Chrome)", argv)
                for argv in trust.install_argv("win32", paths.ca, home)]
    for db in nss_dbs if nss_dbs is not None else nss_databases(home):
        create = db if not (db / "cert9.db").exists() else None
        steps.append(TrustStep(f"NSS database {db}", (
            "certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", nick, "-i", ca), create_dir=create))
    if system:
        if Path("/usr/local/share/ca-certificates").is_dir() or shutil.which("update-ca-certificates"):
            dest = "/usr/local/share/ca-certificates/softphone-local-ca.crt"
            steps.append(TrustStep("system store (Debian/Ubuntu)", ("cp", ca, dest), needs_root=True))
            steps.append(TrustStep("system store (Debian/Ubuntu)", ("update-ca-certificates",), needs_root=True))
        elif shutil.which("update-ca-trust"):
            dest = "/etc/pki/ca-trust/source/anchors/softphone-local-ca.pem"
            steps.append(TrustStep("system store (Fedora/RHEL)", ("cp", ca, dest), needs_root=True))
            steps.append(TrustStep("system store (Fedora/RHEL)", ("update-ca-trust",), needs_root=True))
    return steps


def uninstall_steps(paths: CertPaths, *, home: Path | None = None, system: bool = True,
                    nss_dbs: list[Path] | None = None, os_name: str | None = None) -> list[TrustStep]:
    os_name = os_name or platform.system()
    home = home or Path.home()
    nick = nickname(paths)
    if os_name == "Darwin":
        return [TrustStep("macOS login keychain", argv) for argv in trust.uninstall_argv("darwin", paths.ca, nick)]
    if os_name == "Windows":
        return [TrustStep("Windows user certificate store", argv)
                for argv in trust.uninstall_argv("win32", paths.ca, nick)]
    steps = [TrustStep(f"NSS database {db}", ("certutil", "-d", f"sql:{db}", "-D", "-n", nick))
             for db in (nss_dbs if nss_dbs is not None else nss_databases(home)) if (db / "cert9.db").exists()]
    if system and Path("/usr/local/share/ca-certificates/softphone-local-ca.crt").exists():
        steps.append(TrustStep("system store", ("rm", "/usr/local/share/ca-certificates/softphone-local-ca.crt"),
                               needs_root=True))
        steps.append(TrustStep("system store", ("update-ca-certificates", "--fresh"), needs_root=True))
    return steps
