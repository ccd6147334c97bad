"""The whole NAT lab for one run: topology, PBX, STUN/TURN server, the private PulseAudio daemon and the two
phones (the rep at home, the far end behind its own router), shared by the tests and ``bench/nat_bench.py``.

Accounts of the rep's engine (one SIP socket, so one router mapping):

* ``rep``: nothing NAT-specific configured — the defaults must carry calls through the router;
* ``repturn``: ICE with STUN, and TURN with a password from the keyring (the relay of last resort).

The far end (``far``) lists the STUN server, so its SDP names its own router's public mapping.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.audio import harness
from tests.nat import phones
from tests.nat.pbx import TURN_PASSWORD, TURN_USER, Coturn, NatPbx, require_servers
from tests.nat.phones import FAR_SIDE, HOME_SIDE, Ears, NsEngine, nat_account, phone_config
from tests.nat.topology import NatKind, Topology, TopologyError, require_netns, topology
from tests.peers import wait_for

AUDIO_INSTALL = "apt-get install pulseaudio pulseaudio-utils (or run `make test`)"
MAPPING_TIMEOUT_S = 3         # the rep's router forgets an idle UDP mapping after this long
KEEPALIVE_S = 2               # the rep's keep-alive interval in the lab (shorter than the mapping timeout)


def require_lab() -> None:
    """Raise ``TopologyError`` naming what is missing (root, netns, nftables, servers, PulseAudio)."""
    require_netns()
    require_servers()
    missing = [b for b in ("pulseaudio", "pacat", "parec") if shutil.which(b) is None]
    if missing:
        raise TopologyError(f"{', '.join(missing)} not installed: {AUDIO_INSTALL}")


@dataclass
class Lab:
    topo: Topology
    pbx: NatPbx
    turn: Coturn
    pulse: harness.PulseDaemon
    workdir: Path
    keepalive_s: int = KEEPALIVE_S
    engines: dict[str, NsEngine] = field(default_factory=dict)
    _gen: dict[str, int] = field(default_factory=dict)
    _n: int = 0
    _restarts: int = 0

    # ------------------------------------------------------------------ phones

    def home_config(self, **overrides: Any) -> str:
        base: dict[str, Any] = {"keepalive_s": self.keepalive_s}
        base.update(overrides)
        turn = dict(base, ice=True, stun_servers=[self.turn.address], turn_server=self.turn.address,
                    turn_username=TURN_USER)
        return phone_config(nat_account("rep", "rep", self.pbx, **base),
                            nat_account("repturn", "repturn", self.pbx, **turn), side=HOME_SIDE)

    def far_config(self) -> str:
        return phone_config(nat_account("far", "far", self.pbx, stun_servers=[self.turn.address]), side=FAR_SIDE)

    def _engine(self, key: str, make: Any) -> NsEngine:
        """The running engine ``key``; a fresh one when the home router changed since it registered (an engine
        without a network watch would wait for its registration to expire), or when it died."""
        eng = self.engines.get(key)
        stale = key == "home" and self._gen.get(key) != self.topo.generation
        if eng is not None and (eng.proc is None or eng.proc.poll() is not None or stale):
            eng.stop()
            eng = None
        if eng is None:
            eng = make()
            self.engines[key] = eng
            self._gen[key] = self.topo.generation
        return eng

    def _new(self, ns: Any, name: str, config: str, turn_password: str | None = None) -> NsEngine:
        self._n += 1
        eng = NsEngine(ns, self.workdir / f"{name}-{self._n}", config, self.pulse)
        if turn_password is not None:
            phones.store_turn_password(eng, "repturn", turn_password)
        return eng.start()

    def home(self) -> NsEngine:
        return self._engine("home", lambda: self._new(self.topo.home, "home", self.home_config(), TURN_PASSWORD))

    def far(self) -> NsEngine:
        return self._engine("far", lambda: self._new(self.topo.far, "far", self.far_config()))

    def both(self) -> tuple[NsEngine, NsEngine]:
        """Home and far end, started side by side (each takes seconds), both registered."""
        out: dict[str, NsEngine] = {}
        errors: list[BaseException] = []

        def run(key: str) -> None:
            try:
                out[key] = self.home() if key == "home" else self.far()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(k,)) for k in ("home", "far")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        home, far = out["home"], out["far"]
        for eng, names in ((home, ("rep", "repturn")), (far, ("far",))):
            for name in names:
                eng.wait_registration(name, timeout=20)
        return home, far

    def reset_router(self) -> None:
        """Back to the default router (port-preserving cone, no forwards) if a test changed it."""
        t = self.topo
        if t.forwards:
            t.clear_forwards()
        if t.nat is not NatKind.PORT_RESTRICTED or t.port_range is not None:
            t.set_nat(NatKind.PORT_RESTRICTED)

    def keep_engines(self) -> None:
        """The running engines followed the router's change themselves (a test proved it): keep them."""
        for key in self.engines:
            self._gen[key] = self.topo.generation

    def restart(self, key: str, config: str) -> NsEngine:
        """Replace engine ``key`` by one with ``config`` (started at once)."""
        old = self.engines.pop(key, None)
        if old is not None:
            old.stop()
        ns = self.topo.home if key == "home" else self.topo.far
        eng = self._new(ns, key, config, TURN_PASSWORD if key == "home" else None)
        self.engines[key] = eng
        self._gen[key] = self.topo.generation
        return eng

    # ------------------------------------------------------------------ ears and calls

    @contextlib.contextmanager
    def ears(self) -> Iterator[tuple[Ears, Ears]]:
        home, far = Ears(self.pulse, HOME_SIDE), Ears(self.pulse, FAR_SIDE)
        try:
            yield home, far
        finally:
            home.stop()
            far.stop()

    def call_far_from_home(self, account: str = "rep", *, relay: bool = True) -> tuple[str, str]:
        """Home dials the far end, the far end answers; returns (home call id, far call id) once established."""
        home, far = self.home(), self.far()
        cid = phones.dial(home, self.pbx.uri("far", relay=relay), account)
        inc = phones.wait_incoming(far)
        far.ctl("answer", call_id=inc["call_id"])
        phones.wait_established(home, cid)
        phones.wait_established(far, inc["call_id"])
        return cid, str(inc["call_id"])

    def call_home_from_far(self, user: str = "rep", *, relay: bool = True) -> tuple[str, str]:
        """The far end dials the rep; the rep answers; returns (home call id, far call id) once established."""
        home, far = self.home(), self.far()
        cid = phones.dial(far, self.pbx.uri(user, relay=relay), "far")
        inc = phones.wait_incoming(home)
        home.ctl("answer", call_id=inc["call_id"])
        phones.wait_established(far, cid)
        phones.wait_established(home, inc["call_id"])
        return str(inc["call_id"]), cid

    def hang_up(self) -> None:
        phones.hang_up_all(*self.engines.values())

    def restart_router(self, user: str, timeout: float = 15) -> str:
        """Restart the rep's router with ports it never used before, then wait until the PBX would send calls
        for ``user`` through the new mapping (the phone re-registered); returns that contact."""
        before = set(self.pbx.contacts(user))
        # the router preserves the phone's ports where it can (the kernel's ephemeral range is 32768-60999):
        # each restart gets a range of its own below that, so an old mapping can never look like a new one
        self._restarts += 1
        low = 10000 + 2000 * (self._restarts % 10)
        high = low + 1999
        self.topo.restart_router(port_range=(low, high))

        def moved() -> str | None:
            for c in self.pbx.contacts(user):
                port = c.rsplit(":", 1)[-1].split(";")[0]
                if c not in before and port.isdigit() and low <= int(port) <= high:
                    return c
            return None
        found: str = wait_for(moved, timeout, interval=0.1, what=f"{user} registered through the new mapping")
        return found

    def close(self) -> None:
        for eng in self.engines.values():
            with contextlib.suppress(Exception):
                eng.stop()
        self.engines.clear()


@contextlib.contextmanager
def lab(workdir: Path, *, mapping_timeout_s: int = MAPPING_TIMEOUT_S, keepalive_s: int = KEEPALIVE_S) -> Iterator[Lab]:
    """Everything up (raises ``TopologyError`` with the fix when the host cannot), torn down on exit."""
    require_lab()
    with topology(workdir) as topo:
        topo.mapping_timeout(mapping_timeout_s)
        pbx = NatPbx(topo, workdir / "pbx").start()
        turn = Coturn(topo, workdir / "turn").start()
        with harness.pulse_daemon() as pulse:
            the_lab = Lab(topo, pbx, turn, pulse, workdir, keepalive_s)
            try:
                yield the_lab
            finally:
                the_lab.close()


def settle(seconds: float = 1.0) -> None:
    """Let a new call's audio path fill (jitter buffers, the speaker stream) before listening."""
    time.sleep(seconds)


__all__ = ["KEEPALIVE_S", "MAPPING_TIMEOUT_S", "Lab", "NatKind", "lab", "require_lab", "settle"]
