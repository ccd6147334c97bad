"""Self-check of the native parts of a build: ``softphone --bundle-selftest`` in the frozen app,
``python packaging/bundle_check.py`` in a source tree. Prints one JSON object; exit 0 when every check passed.

The engine process loads pjsua2's own OpenSSL 1.0.2k (``pjsua2_python.libs/libssl-*.so.1.0.2k``) next to the
system OpenSSL 3 that Python's ``ssl`` (aiohttp widget server, httpx) links, and the window loads Qt, whose TLS
backend dlopens ``libssl.so.3``. All three live in one bundle directory. This check loads all three in ONE
process (a worst case: the real app splits engine and window) and completes a real TLS handshake with each:

- pjsua2 sends a REGISTER over ``sips:`` to a loopback TLS listener run by Python's ``ssl`` (1.0.2k client ⇄
  OpenSSL 3 server, TLS 1.2);
- Python's ``ssl`` client handshakes with the same listener;
- Qt's ``QSslSocket`` handshakes with it too (when PySide6 is present).

It also lists which libssl/libcrypto files are mapped, so a clash (one library resolving the other's symbols,
or a system copy shadowing the bundled one) shows up as data, not as a crash in the field; checks that programs
started outside the bundle get a clean environment; and imports every runtime dependency and every module the
code loads by name (``expected_modules``), so a module PyInstaller could not see fails here, not in a call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TIMEOUT_S = 10.0
MODULES_FILE = "bundle_modules.json"
_DYNAMIC_IMPORT = re.compile(r"""import_module\(\s*["']([\w.]+)["']""")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def expected_modules(pkg_dir: Path) -> list[str]:
    """Modules the app must be able to import: the top-level modules of every runtime dependency in
    pyproject, plus every module the code imports by a literal name at run time (``import_module("pulsectl")``:
    static analysis cannot see those). The spec adds them all as hidden imports and ships this list."""
    from importlib.metadata import packages_distributions, requires

    from packaging.requirements import Requirement

    by_dist: dict[str, set[str]] = {}
    for mod, dists in packages_distributions().items():
        for d in dists:
            by_dist.setdefault(_norm(d), set()).add(mod)
    modules: set[str] = set()
    for line in requires("softphone") or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        modules |= {m for m in by_dist.get(_norm(req.name), set()) if not m.startswith("_")}
    for path in sorted(pkg_dir.rglob("*.py")):
        modules.update(_DYNAMIC_IMPORT.findall(path.read_text(encoding="utf-8")))
    return sorted(modules)


def check_modules() -> dict[str, Any]:
    if getattr(sys, "frozen", False):
        names = json.loads((Path(getattr(sys, "_MEIPASS", "")) / MODULES_FILE).read_text())
    else:
        import softphone

        names = expected_modules(Path(softphone.__file__).parent)
    missing: dict[str, str] = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            missing[name] = f"{type(exc).__name__}: {exc}"
    return {"checked": names, "missing": missing, "ok": not missing}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsListener:
    """Accepts TLS connections on 127.0.0.1 (Python ``ssl``, server side) and records what each peer sent."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(str(cert), str(key))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.sessions: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._session, args=(raw,), daemon=True).start()

    def _session(self, raw: socket.socket) -> None:
        info: dict[str, Any] = {}
        try:
            raw.settimeout(TIMEOUT_S)
            with self.ctx.wrap_socket(raw, server_side=True) as tls:
                info["version"] = tls.version()
                info["cipher"] = (tls.cipher() or ("",))[0]
                data = b""
                while b"\r\n" not in data and len(data) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                info["first_line"] = data.split(b"\r\n", 1)[0].decode("latin-1")
        except (OSError, ssl.SSLError) as exc:
            info["error"] = f"{type(exc).__name__}: {exc}"
        self.sessions.append(info)

    def wait(self, pred: Any, timeout: float = TIMEOUT_S) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in list(self.sessions):
                if pred(s):
                    return s
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def check_pjsua2(listener: TlsListener) -> dict[str, Any]:
    """pjsua2 (its bundled OpenSSL 1.0.2k) registers over TLS to the Python ``ssl`` listener."""
    import pjsua2 as pj

    out: dict[str, Any] = {"version": "", "tls_session": None}
    ep = pj.Endpoint()
    ep.libCreate()
    acc = None
    try:
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.logConfig.level = 0
        cfg.logConfig.consoleLevel = 0
        ep.libInit(cfg)
        out["version"] = ep.libVersion().full
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        tcfg.boundAddress = "127.0.0.1"
        tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        tcfg.tlsConfig.verifyServer = False
        ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tcfg)
        ep.audDevManager().setNullDev()
        ep.libStart()
        acfg = pj.AccountConfig()
        acfg.idUri = f"sips:selftest@127.0.0.1:{listener.port}"
        acfg.regConfig.registrarUri = f"sips:127.0.0.1:{listener.port}"
        acfg.regConfig.timeoutSec = 60
        acc = pj.Account()
        acc.create(acfg)
        deadline = time.monotonic() + TIMEOUT_S
        session = None
        while session is None and time.monotonic() < deadline:
            ep.libHandleEvents(20)
            session = next((s for s in listener.sessions if "REGISTER" in s.get("first_line", "")
                            or "error" in s), None)
        out["tls_session"] = session
        with contextlib.suppress(Exception):
            acc.shutdown()
        for _ in range(10):
            ep.libHandleEvents(10)
    finally:
        acc = None
        ep.libDestroy()
    out["ok"] = bool(out["tls_session"] and out["tls_session"].get("first_line", "").startswith("REGISTER"))
    return out


def check_python_ssl(listener: TlsListener) -> dict[str, Any]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out: dict[str, Any] = {"openssl": ssl.OPENSSL_VERSION}
    with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT_S) as raw, \
            ctx.wrap_socket(raw) as tls:
        out["version"] = tls.version()
        tls.sendall(b"PYTHON-SSL selftest\r\n")
    session = listener.wait(lambda s: s.get("first_line") == "PYTHON-SSL selftest")
    out["ok"] = session is not None
    return out


def check_qt(listener: TlsListener) -> dict[str, Any]:
    try:
        from PySide6.QtCore import QCoreApplication
        from PySide6.QtNetwork import QSslSocket
    except ImportError as exc:
        return {"ok": None, "skipped": f"PySide6 not available: {exc}"}
    app = QCoreApplication.instance() or QCoreApplication([])
    out: dict[str, Any] = {
        "supports_ssl": QSslSocket.supportsSsl(),
        "backend": QSslSocket.activeBackend(),
        "library": QSslSocket.sslLibraryVersionString(),
        "built_with": QSslSocket.sslLibraryBuildVersionString(),
    }
    sock = QSslSocket()
    sock.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
    sock.connectToHostEncrypted("127.0.0.1", listener.port)
    encrypted = sock.waitForEncrypted(int(TIMEOUT_S * 1000))
    out["encrypted"] = encrypted
    out["protocol"] = str(sock.sessionProtocol()) if encrypted else sock.errorString()
    if encrypted:
        sock.write(b"QT-SSL selftest\r\n")
        sock.waitForBytesWritten(int(TIMEOUT_S * 1000))
    session = listener.wait(lambda s: s.get("first_line") == "QT-SSL selftest") if encrypted else None
    sock.disconnectFromHost()
    del app
    out["ok"] = bool(out["supports_ssl"] and session is not None)
    return out


def check_children() -> dict[str, Any]:
    """Frozen app only: a program outside the bundle gets the user's environment (not the bundle's
    LD_LIBRARY_PATH: packaging/rthooks/pyi_rth_softphone_env.py); the app itself still starts as a child."""
    if not getattr(sys, "frozen", False) or not sys.platform.startswith("linux"):
        return {"ok": None, "skipped": "only for the frozen Linux app"}
    import subprocess

    bundle = os.path.dirname(os.path.realpath(sys.executable))
    env_out = subprocess.run(["env"], capture_output=True, text=True, check=True, timeout=TIMEOUT_S).stdout
    child_env = dict(line.split("=", 1) for line in env_out.splitlines() if "=" in line)
    leaked = {k: v for k, v in child_env.items() if k.startswith("_PYI_") or bundle in v}
    own = subprocess.run([sys.executable, "--version"], capture_output=True, text=True, timeout=60, check=False)
    return {"foreign_env_leaks": leaked, "own_child": own.stdout.strip(),
            "ok": not leaked and own.returncode == 0}


def mapped_tls_libraries() -> list[str]:
    seen: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split(None, 5)[-1] if len(line.split(None, 5)) == 6 else ""
            name = os.path.basename(path)
            if (name.startswith(("libssl", "libcrypto"))) and path not in seen:
                seen.append(path)
    return seen


def run() -> dict[str, Any]:
    from importlib.metadata import version

    report: dict[str, Any] = {
        "frozen": bool(getattr(sys, "frozen", False)),
        "executable": sys.executable,
        "softphone_version": version("softphone"),
    }
    with tempfile.TemporaryDirectory(prefix="softphone-selftest-") as tmp:
        cert, key = _self_signed(Path(tmp))
        listener = TlsListener(cert, key)
        try:
            for name, fn in (("pjsua2", check_pjsua2), ("python_ssl", check_python_ssl), ("qt", check_qt)):
                try:
                    report[name] = fn(listener)
                except Exception as exc:
                    report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            listener.close()
    report["tls_libraries"] = mapped_tls_libraries()
    for name, check in (("children", check_children), ("modules", check_modules)):
        try:
            report[name] = check()
        except Exception as exc:
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    report["ok"] = all(report[n].get("ok") is not False
                       for n in ("pjsua2", "python_ssl", "qt", "children", "modules"))
    return report


def main(argv: list[str] | None = None) -> int:
    del argv
    # pjlib logs its first lines to fd 1 before any log config applies: keep stdout for the JSON report.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        report = run()
    finally:
        sys.stdout.flush()
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None).fflush(None)  # C stdio buffers (pjlib's printf) go to stderr too
        os.dup2(saved, 1)
        os.close(saved)
    print(json.dumps(report, indent=2), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
