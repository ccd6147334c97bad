"""Real SIP peers for integration tests, all on loopback: kamailio (registrar/proxy, digest auth, UDP/TCP/TLS),
sipp scenarios, and the softphone engine itself as a subprocess (``softphone serve``) — a second engine is the
"second pjsua2 user agent" for inbound, hold, DTMF and transfer tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = Path(__file__).resolve().parent / "integration" / "scenarios"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
PASSWORD = "s3cret-pass"  # test-only registrar password (per user, see kamailio cfg)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free port")


def wait_for(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# ------------------------------------------------------------------------------------------------ TLS material


def make_tls_material(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a 127.0.0.1/localhost server certificate (for kamailio TLS)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "softphone test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


# ------------------------------------------------------------------------------------------------ kamailio

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=1
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{udp}
listen=tcp:127.0.0.1:{tcp}
enable_tls=yes
listen=tls:127.0.0.1:{tls}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "tls.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 5)
modparam("registrar", "default_expires", 60)
modparam("tls", "config", "{tlscfg}")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        if (uri == myself && lookup("location")) {{ t_relay(); exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        if ({auth}) {{
            if (!pv_www_authenticate("$td", "{password}", "0")) {{ www_challenge("$td", "0"); exit; }}
            consume_credentials();
        }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if ({auth} && is_method("INVITE") && from_uri == myself) {{
        if (!pv_proxy_authenticate("$fd", "{password}", "0")) {{ proxy_challenge("$fd", "0"); exit; }}
        consume_credentials();
    }}
    if (is_method("INVITE|SUBSCRIBE|REFER")) {{ record_route(); }}
    if (uri == myself) {{
        if (!lookup("location")) {{
            if ({gw} > 0 && $rU =~ "^\\+?[0-9]+$") {{ $du = "sip:127.0.0.1:{gw}"; t_relay(); exit; }}
            sl_send_reply("404", "Not Found");
            exit;
        }}
    }}
    t_relay();
    exit;
}}
"""

TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


class Kamailio:
    """An in-memory registrar/proxy. ``gateway_port``: unknown numeric users are relayed there (a sipp UAS)."""

    def __init__(self, workdir: Path, *, auth: bool = True, gateway_port: int = 0) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.udp, self.tcp, self.tls = free_port(), free_port(), free_port()
        self.auth = auth
        self.gateway_port = gateway_port
        self.tls_files = make_tls_material(self.dir / "tls")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "kamailio.log"

    def _write_cfg(self) -> Path:
        tlscfg = self.dir / "tls.cfg"
        tlscfg.write_text(TLS_CFG.format(key=self.tls_files["key"], cert=self.tls_files["cert"]))
        cfg = self.dir / "kamailio.cfg"
        cfg.write_text(KAMAILIO_CFG.format(udp=self.udp, tcp=self.tcp, tls=self.tls, modules=KAMAILIO_MODULES,
                                           tlscfg=tlscfg, auth="1" if self.auth else "0",
                                           password=PASSWORD, gw=self.gateway_port))
        return cfg

    def start(self) -> Kamailio:
        cfg = self._write_cfg()
        run = self.dir / "run"
        run.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", str(cfg), "-Y", str(run), "-m", "32", "-M", "8"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), start_new_session=True,
        )
        wait_for(lambda: self._listening(), 10, what="kamailio to listen")
        return self

    def _listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"kamailio exited: {self.log.read_text()[-2000:]}")
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", self.tcp)) == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def uri(self, transport: str = "udp") -> str:
        port = {"udp": self.udp, "tcp": self.tcp, "tls": self.tls}[transport]
        return f"sip:127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------------ sipp


class Sipp:
    """A sipp UAS running one of tests/integration/scenarios/*.xml, or of ``scenarios`` (or the built-in ``uas``)."""

    def __init__(self, scenario: str, port: int | None = None, workdir: Path | None = None,
                 extra: list[str] | None = None, calls: int = 1000, scenarios: Path = SCENARIOS) -> None:
        self.port = port or free_port()
        self.scenarios = scenarios
        self.scenario = scenario
        self.workdir = workdir or Path("/tmp")
        self.extra = extra or []
        self.calls = calls
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / f"sipp-{scenario}-{self.port}.log"
        self.msglog = self.workdir / f"sipp-{scenario}-{self.port}-messages.log"

    def start(self) -> Sipp:
        scen = ["-sn", "uas"] if self.scenario == "uas" else ["-sf", str(self.scenarios / f"{self.scenario}.xml")]
        media_port = free_port()
        cmd = ["sipp", *scen, "-i", "127.0.0.1", "-p", str(self.port), "-mp", str(media_port), "-m",
               str(self.calls), "-nostdin", "-nd", "-trace_msg", "-message_file",
               str(self.msglog), *self.extra]
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        time.sleep(0.15)
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp exited: {self.log.read_text()[-2000:]}")
        return self

    def messages(self) -> str:
        try:
            return self.msglog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def invites(self) -> int:
        return self.messages().count("INVITE sip:")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


# ------------------------------------------------------------------------------------------------ engine


def first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line a process prints on stdout ('' if none within ``timeout``): the engine's ready line."""
    box: dict[str, str] = {}

    def read() -> None:
        assert proc.stdout is not None
        box["line"] = proc.stdout.readline()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    return box.get("line", "")


def engine_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an isolated engine: its own config, data dir and file keyring."""
    env = dict(os.environ)
    env.update({
        "SOFTPHONE_CONFIG": str(workdir / "config.toml"),
        "SOFTPHONE_DATA_DIR": str(workdir / "data"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(workdir / "xdg-data"),
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
        "SOFTPHONE_AUDIO": env.get("SOFTPHONE_AUDIO", "off"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


class EngineProcess:
    """``softphone serve`` in a subprocess, driven through the real CLI / control API."""

    def __init__(self, workdir: Path, config: str = "", env: dict[str, str] | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.toml").write_text(config)
        self.env = engine_env(self.dir, env)
        self.proc: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}
        self.stderr_path = self.dir / "engine.stderr"
        self.events: list[dict[str, Any]] = []
        self._ev_thread: threading.Thread | None = None
        self._ev_stop = threading.Event()

    @property
    def data_dir(self) -> Path:
        return Path(self.env["SOFTPHONE_DATA_DIR"])

    def cli(self, *args: str, input: str | None = None, check: bool = False, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "softphone", *args], env=self.env, capture_output=True,
                           text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"softphone {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def set_password(self, account: str, password: str) -> None:
        self.cli("account", "set-password", account, input=password + "\n", check=True)

    # what runs the engine: `softphone serve`, or a test launcher module that wraps it
    launch: tuple[str, ...] = ("softphone", "serve")

    def start(self, timeout: float = 20, watch_events: bool = True) -> EngineProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", *self.launch], env=self.env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self.stderr_path.open("ab"), text=True,
                                     start_new_session=True)
        line = first_line(self.proc, timeout)
        if not line:
            self.stop()
            raise RuntimeError(f"engine did not become ready: {self.stderr_path.read_text()[-3000:]}")
        self.ready = json.loads(line)
        if watch_events:
            self._start_event_thread()
        return self

    def _start_event_thread(self) -> None:
        import asyncio

        from softphone.control.client import ControlClient

        client = ControlClient(self.data_dir)

        async def pump() -> None:
            async for ev in client.events():
                self.events.append(ev)
                if self._ev_stop.is_set():
                    return

        def run() -> None:
            with contextlib.suppress(Exception):
                asyncio.run(pump())

        self._ev_thread = threading.Thread(target=run, daemon=True)
        self._ev_thread.start()
        wait_for(lambda: any(e.get("type") == "status" for e in self.events), 15, what="event stream")

    def client(self) -> Any:
        from softphone.control.client import ControlClient

        return ControlClient(self.data_dir)

    def ctl(self, name: str, /, **args: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.client().command(name, **args)
        return result

    def status(self) -> dict[str, Any]:
        return self.ctl("status")

    def call_events(self, call_id: str | None = None) -> list[dict[str, Any]]:
        return [e["call"] for e in list(self.events)
                if e.get("type") == "call" and (call_id is None or e["call"]["call_id"] == call_id)]

    def wait_call(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10, what: str = "call") -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((c for c in reversed(self.call_events()) if pred(c)), None)
        result: dict[str, Any] = wait_for(find, timeout, what=what)
        return result

    def wait_state(self, call_id: str, state: str, timeout: float = 10) -> dict[str, Any]:
        return self.wait_call(lambda c: c["call_id"] == call_id and c["state"] == state, timeout,
                              what=f"call {call_id} {state}")

    def wait_registration(self, account: str, state: str = "REGISTERED", timeout: float = 15) -> None:
        def ok() -> bool:
            accs = self.status()["accounts"]
            return any(a["name"] == account and a["registration"] == state for a in accs)
        wait_for(ok, timeout, interval=0.1, what=f"{account} {state}")

    def history(self) -> list[dict[str, Any]]:
        r = self.cli("history", "--json", "--limit", "200", check=True)
        rows: list[dict[str, Any]] = json.loads(r.stdout)
        return rows

    def stop(self) -> None:
        self._ev_stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


def account_toml(name: str, user: str, kam: Kamailio | None = None, transport: str = "udp", *,
                 auth: bool = True, proxy: str | None = None, extra: str = "") -> str:
    """One ``[[accounts]]`` block for a kamailio user (or a direct/trunk account when ``kam`` is None)."""
    lines = ["[[accounts]]", f'name = "{name}"']
    if kam is not None:
        # the domain carries kamailio's port: loopback hosts are only "myself" to kamailio with their port
        lines.append(f'sip_uri = "sip:{user}@127.0.0.1:{kam.udp}"')
        lines.append(f'registrar = "{kam.uri(transport)}"')
        lines.append(f'proxy = "{kam.uri(transport)}"')
        if transport == "tls":
            lines.append(f'tls_ca_file = "{kam.tls_files["ca"]}"')
    else:
        lines.append(f'sip_uri = "sip:{user}@127.0.0.1"')
        if proxy:
            lines.append(f'proxy = "{proxy}"')
    lines.append(f'transport = "{transport}"')
    if auth:
        lines.append(f'auth_username = "{user}"')
    lines.append("register_expires = 10")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def engine_config(*accounts: str, demo: str = "off", widget: bool = False, extra: str = "") -> str:
    head = f'sip_bind_address = "127.0.0.1"\ndemo_line = "{demo}"\n{extra}'
    body = "".join(accounts)
    tail = "" if widget else "[widget]\nenabled = false\n"
    return head + "\n" + body + tail


@contextlib.contextmanager
def running(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for t in reversed(things):
            with contextlib.suppress(Exception):
                t.stop()



@contextlib.contextmanager
def stop_all() -> Iterator[list[Any]]:
    """A list for the peers a fixture starts: every one in it is stopped when the block ends, also on failure."""
    started: list[Any] = []
    try:
        yield started
    finally:
        for p in started:
            p.stop()


@contextlib.contextmanager
def sipps(workdir: Path) -> Iterator[Callable[..., Sipp]]:
    """``make(scenario, **kw)`` starts a sipp UAS in ``workdir``; every one is stopped when the block ends,
    also on failure (the tests' ``sipp`` fixtures)."""
    with stop_all() as started:
        def make(scenario: str, **kw: Any) -> Sipp:
            s = Sipp(scenario, workdir=workdir, **kw)
            started.append(s)
            return s.start()

        yield make


@contextlib.contextmanager
def engines(root: Path) -> Iterator[Callable[..., EngineProcess]]:
    """``make(config, name="engine", start=True, **kw)`` gives a ``softphone serve`` under ``root/name``;
    every one is stopped when the block ends, also on failure (the tests' ``engine_factory`` fixtures)."""
    with stop_all() as started:
        def make(config: str, name: str = "engine", start: bool = True, **kw: Any) -> EngineProcess:
            e = EngineProcess(root / name, config, **kw)
            started.append(e)
            if start:
                e.start()
            return e

        yield make

def have(binary: str) -> bool:
    return shutil.which(binary) is not None
