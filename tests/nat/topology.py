"""A rep's home behind a router, and the internet with a hosted PBX, built from network namespaces.

::

    home (192.0.2.10) ── router: NAT ── wan bridge 198.51.100.0/24 ── router2: NAT ── far (203.0.113.10)
                         198.51.100.1     PBX .2 (kamailio, rtpengine)   198.51.100.11
                                          TURN/STUN .3 (+ .4 for RFC 5780)
                                          refusing TURN .5
                                          stranger .66

Only documentation addresses are used and nothing leaves the namespaces: they are joined to each other by veth
pairs created inside them (the host's own namespace never sees an interface or a route). Each topology has its
own name prefix (process id + random), so parallel runs never collide; ``close()`` (also called on failure and at
interpreter exit) stops every process started in it and deletes the namespaces. Ports inside the namespaces are
free by construction (fresh network stacks), which is why the servers use their standard ports.

The router's NAT is nftables masquerade: port-preserving with address-and-port-dependent filtering (a
port-restricted cone, what most home routers do) or ``masquerade random`` (a new port for every destination: a
symmetric NAT). ``forward_port`` adds a port forward (what UPnP or a "DMZ host" setting does), which lets
strangers on the internet reach the phone's SIP port. The far end sits behind a port-restricted router of its
own: a far end on the open internet would answer wherever the media came from (symmetric RTP) and hide a
broken media path.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HOME_IP = "192.0.2.10"
HOME_GW = "192.0.2.1"
ROUTER_PUBLIC = "198.51.100.1"
PBX_IP = "198.51.100.2"
TURN_IP = "198.51.100.3"
TURN_ALT_IP = "198.51.100.4"         # coturn's second address: RFC 5780 OTHER-ADDRESS (NAT behaviour tests)
TURN_REFUSING_IP = "198.51.100.5"    # a second coturn that refuses every allocation
FAR_ROUTER_PUBLIC = "198.51.100.11"
STRANGER_IP = "198.51.100.66"
FAR_IP = "203.0.113.10"
FAR_GW = "203.0.113.1"
WAN_PREFIX = 24
WAN_NET = "198.51.100.0/24"          # every public address of the lab: the PBX, TURN, routers, the stranger

INSTALL = "apt-get install iproute2 nftables conntrack (or run `make test`)"


class NatKind(enum.Enum):
    PORT_RESTRICTED = "port-restricted"
    SYMMETRIC = "symmetric"


class TopologyError(RuntimeError):
    """The host cannot build the topology (not root, no netns/nftables): the message says what to do."""


def require_netns() -> None:
    """Raise ``TopologyError`` with the reason and the fix when this host cannot build namespaces."""
    if os.geteuid() != 0:
        raise TopologyError("the NAT tests need root (network namespaces, nftables): run them as root "
                            "(CI does), e.g. `sudo .venv/bin/python -m pytest tests/nat`")
    missing = [b for b in ("ip", "nft", "conntrack") if shutil.which(b) is None]
    if missing:
        raise TopologyError(f"{', '.join(missing)} not installed: {INSTALL}")
    probe = f"sp-probe-{os.getpid()}-{secrets.token_hex(2)}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        raise TopologyError(f"this kernel/container cannot create network namespaces ({r.stderr.strip()}): "
                            "the NAT tests need CAP_SYS_ADMIN and netns support")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


class Namespace:
    """One network namespace; commands run in it through ``ip netns exec``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 20,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*self.prefix(), *args], capture_output=True, text=True, input=input, timeout=timeout,
                           env=env, cwd=cwd)
        if check and r.returncode != 0:
            raise TopologyError(f"[{self.name}] {' '.join(args)} failed: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def sysctl(self, key: str, value: str | int) -> None:
        self.run("sysctl", "-q", "-w", f"{key}={value}")

    def pids(self) -> list[int]:
        r = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split() if p.isdigit()]


class Topology:
    """Build with ``Topology().build()`` (or the ``topology()`` context manager); always ``close()``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tag = f"sp{os.getpid()}{secrets.token_hex(2)}"
        self.home = Namespace(f"{self.tag}-home")
        self.router = Namespace(f"{self.tag}-rtr")
        self.wan = Namespace(f"{self.tag}-wan")
        self.router2 = Namespace(f"{self.tag}-rtr2")
        self.far = Namespace(f"{self.tag}-far")
        self.nat = NatKind.PORT_RESTRICTED
        self.port_range: tuple[int, int] | None = None
        self.forwards: list[int] = []
        self.generation = 0             # how many times the home router forgot its mappings
        self._procs: list[subprocess.Popen[Any]] = []
        self._created: list[Namespace] = []
        self._closed = False

    @property
    def namespaces(self) -> tuple[Namespace, ...]:
        return (self.home, self.router, self.wan, self.router2, self.far)

    # ------------------------------------------------------------------ build / tear down

    def build(self) -> Topology:
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        for ns in self.namespaces:
            r = subprocess.run(["ip", "netns", "add", ns.name], capture_output=True, text=True)
            if r.returncode != 0:
                raise TopologyError(f"ip netns add {ns.name}: {r.stderr.strip()}")
            self._created.append(ns)
            ns.run("ip", "link", "set", "lo", "up")
        # veth pairs are created inside a namespace with the peer end moved straight into another one
        self._veth(self.home, "eth0", self.router, "lan0")
        self._veth(self.router, "wan0", self.wan, "up0")
        self._veth(self.router2, "wan0", self.wan, "up1")
        self._veth(self.far, "eth0", self.router2, "lan0")
        self.wan.run("ip", "link", "add", "br0", "type", "bridge")
        for port in ("up0", "up1"):
            self.wan.run("ip", "link", "set", port, "master", "br0")
        self.wan.run("ip", "link", "set", "br0", "up")
        self._addr(self.home, "eth0", HOME_IP, HOME_GW)
        self._addr(self.router, "lan0", HOME_GW)
        self._addr(self.router, "wan0", ROUTER_PUBLIC)
        # the stranger's address first: it is the source of anything in the wan that does not bind (scanners
        # that ignore their bind option), never the PBX's, whose address the phone trusts
        for ip in (STRANGER_IP, PBX_IP, TURN_IP, TURN_ALT_IP, TURN_REFUSING_IP):
            self.wan.run("ip", "addr", "add", f"{ip}/{WAN_PREFIX}", "dev", "br0")
        self._addr(self.router2, "wan0", FAR_ROUTER_PUBLIC)
        self._addr(self.router2, "lan0", FAR_GW)
        self._addr(self.far, "eth0", FAR_IP, FAR_GW)
        for router in (self.router, self.router2):
            router.sysctl("net.ipv4.ip_forward", 1)
        # no IPv6 anywhere: nothing should find a way around the NAT
        for ns in self.namespaces:
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
        self._load_nat(self.router2, NatKind.PORT_RESTRICTED, None, [], FAR_IP)
        self.set_nat(NatKind.PORT_RESTRICTED)

    def _veth(self, a: Namespace, a_if: str, b: Namespace, b_if: str) -> None:
        a.run("ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
        a.run("ip", "link", "set", a_if, "up")
        b.run("ip", "link", "set", b_if, "up")

    def _addr(self, ns: Namespace, dev: str, ip: str, gateway: str | None = None) -> None:
        ns.run("ip", "addr", "add", f"{ip}/{WAN_PREFIX}", "dev", dev)
        if gateway and gateway != ip:
            # The "internet" is the wan subnet; anything else is unreachable at once, as on a machine with no
            # route out. A default route into the lab would black-hole it instead: the host's DNS server sits
            # behind it, so every name lookup waited 5 s for a timeout. Where the machine's hostname is not in
            # /etc/hosts (a fresh Debian), the far phone's first call stalled that long (most likely pjsip's
            # pj_gethostip, which resolves the hostname when it makes a media transport).
            ns.run("ip", "route", "add", WAN_NET, "via", gateway)
            ns.run("ip", "route", "add", "unreachable", "default")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for p in reversed(self._procs):
            _stop(p)
        for ns in reversed(self._created):
            # anything still running inside was started by this topology (the namespaces are ours alone)
            for pid in ns.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        self._created.clear()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    # ------------------------------------------------------------------ processes

    def spawn(self, ns: Namespace, args: Sequence[str], *, log: Path | None = None, env: dict[str, str] | None = None,
              stdout: Any = None, stdin: Any = None, text: bool = False, cwd: Path | None = None,
              ) -> subprocess.Popen[Any]:
        """Start ``args`` inside ``ns`` in its own session; stopped by ``close()`` unless stopped before."""
        if stdout is not None:
            out, err = stdout, subprocess.STDOUT
        elif log is not None:
            out, err = log.open("ab"), subprocess.STDOUT
        else:
            out = err = subprocess.DEVNULL
        p: subprocess.Popen[Any] = subprocess.Popen(
            [*ns.prefix(), *args], stdout=out, stderr=err, stdin=stdin if stdin is not None else subprocess.DEVNULL,
            env=env, text=text, cwd=cwd or self.workdir, start_new_session=True)
        self._procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[Any]) -> None:
        _stop(p)
        with contextlib.suppress(ValueError):
            self._procs.remove(p)

    # ------------------------------------------------------------------ the home router

    def set_nat(self, kind: NatKind, *, port_range: tuple[int, int] | None = None) -> None:
        """(Re)load the home router's NAT and forget every mapping it had (a router that restarts)."""
        self.nat = kind
        self.port_range = port_range
        self._load_nat(self.router, kind, port_range, self.forwards, HOME_IP)
        self.flush_mappings()
        self.generation += 1

    def forward_port(self, port: int) -> None:
        """Forward UDP ``port`` on the router's public address to the same port at home (UPnP / DMZ)."""
        self.forwards.append(port)
        self._load_nat(self.router, self.nat, self.port_range, self.forwards, HOME_IP)

    def clear_forwards(self) -> None:
        """Remove the port forwards (the mappings the router holds stay)."""
        self.forwards.clear()
        self._load_nat(self.router, self.nat, self.port_range, self.forwards, HOME_IP)

    def restart_router(self, port_range: tuple[int, int] = (20000, 29999)) -> None:
        """A router restart that comes back with new mappings: conntrack is emptied and new ports are used."""
        self.set_nat(self.nat, port_range=port_range)

    def flush_mappings(self) -> None:
        self.router.run("conntrack", "-F", check=False)

    def mapping_timeout(self, seconds: int) -> None:
        """How long an idle UDP mapping lives on the home router (both before and after it saw a reply)."""
        self.router.sysctl("net.netfilter.nf_conntrack_udp_timeout", seconds)
        self.router.sysctl("net.netfilter.nf_conntrack_udp_timeout_stream", seconds)

    def mappings(self) -> str:
        """The router's current UDP mappings (``conntrack -L``), for failure messages."""
        return self.router.run("conntrack", "-L", "-p", "udp", check=False).stdout

    def _load_nat(self, ns: Namespace, kind: NatKind, port_range: tuple[int, int] | None, forwards: list[int],
                  inside: str) -> None:
        flags = " random" if kind is NatKind.SYMMETRIC else ""
        ports = f" to :{port_range[0]}-{port_range[1]}" if port_range else ""
        masq = "".join(f'        oifname "wan0" meta l4proto {proto} masquerade{ports}{flags}\n' for proto in ("udp", "tcp"))
        masq += f'        oifname "wan0" masquerade{flags}\n'
        fwd = "".join(f'        iifname "wan0" udp dport {p} dnat to {inside}:{p}\n' for p in forwards)
        ruleset = (
            "flush ruleset\n"
            "table ip nat {\n"
            "    chain pre {\n"
            "        type nat hook prerouting priority dstnat; policy accept;\n"
            f"{fwd}"
            "    }\n"
            "    chain post {\n"
            "        type nat hook postrouting priority srcnat; policy accept;\n"
            f"{masq}"
            "    }\n"
            "}\n"
            "table ip filter {\n"
            # like a home router: nothing from the internet reaches the router itself unasked (dropped before
            # conntrack confirms it, so such a packet never holds a port the NAT would otherwise map)
            "    chain input {\n"
            "        type filter hook input priority filter; policy accept;\n"
            '        iifname "wan0" ct state established,related accept\n'
            '        iifname "wan0" drop\n'
            "    }\n"
            "    chain forward {\n"
            "        type filter hook forward priority filter; policy drop;\n"
            "        ct state established,related accept\n"
            '        iifname "lan0" oifname "wan0" accept\n'
            "        ct status dnat accept\n"
            "    }\n"
            "}\n"
        )
        ns.run("nft", "-f", "-", input=ruleset)


def _stop(p: subprocess.Popen[Any]) -> None:
    if p.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)


@contextlib.contextmanager
def topology(workdir: Path) -> Iterator[Topology]:
    """Build, yield, and tear down (also on failure)."""
    topo = Topology(workdir).build()
    try:
        yield topo
    finally:
        topo.close()


def wait_udp_listener(ns: Namespace, ip: str, port: int, timeout: float = 10.0) -> None:
    """Until something listens on ``ip:port``/udp inside ``ns``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = ns.run("ss", "-Hlun", check=False).stdout
        if f"{ip}:{port} " in out:
            return
        time.sleep(0.05)
    raise TopologyError(f"nothing listens on {ip}:{port}/udp in {ns.name}")
