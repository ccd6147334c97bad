"""Network impairment in user space (this kernel has no netem): a UDP relay in front of the far end's RTP port.

The far end's SDP answer names the relay's port instead of its own (see :mod:`tests.quality.farend`), so the
phone under test sends its RTP (and RTCP, to the port above) here. Packets from the phone go straight on to
the far end; packets coming back are dropped, delayed and reordered by an :class:`Impairer` before they reach
the phone. Only that direction is impaired: the echo peer does not decode, so the phone's receiver is the one
decoder in the path and sees exactly the case's loss and jitter (impairing both legs of an echo would double it).

Loss models: Bernoulli (random) and Gilbert–Elliott (bursty: a good and a bad state, each with its own loss
probability). Delay: a base plus uniform jitter drawn independently per packet, as netem's ``delay D J`` does,
so packets overtake each other (reordering) whenever the jitter exceeds the packet interval. Every decision
comes from one ``random.Random(seed)`` restarted for each new phone (the first packet from a new address), so
every phone in a run meets the same pattern of drops and delays packet by packet.

    python -m tests.quality.netimpair --far 127.0.0.1:6000 --case loss3     (prints the relay's port)
"""

from __future__ import annotations

import argparse
import heapq
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Address = tuple[str, int]
Mangler = Callable[[int, bytes], list[bytes]]


@dataclass(frozen=True)
class Impairment:
    """What happens to packets on their way to the phone."""

    label: str = "clean"
    loss_pct: float = 0.0        # random (Bernoulli) loss
    burst_loss_pct: float = 0.0  # mean loss of the Gilbert–Elliott model
    burst_len: float = 3.0       # mean length of a loss burst, packets
    good_loss_pct: float = 0.0   # loss while the G–E model is in its good state
    bad_loss_pct: float = 100.0  # loss while it is in its bad state
    delay_ms: float = 0.0
    jitter_ms: float = 0.0       # uniform ± around delay_ms, per packet
    seed: int = 16


CASES: dict[str, Impairment] = {
    "clean": Impairment("clean"),
    "loss3": Impairment("3 % random loss", loss_pct=3.0),
    "burst10": Impairment("10 % bursty loss (G–E, bursts of 3)", burst_loss_pct=10.0, burst_len=3.0),
    "jitter": Impairment("40 ± 20 ms jitter", delay_ms=40.0, jitter_ms=20.0),
    "jitter_loss3": Impairment("40 ± 20 ms jitter + 3 % loss", loss_pct=3.0, delay_ms=40.0, jitter_ms=20.0),
}


class Impairer:
    """The pure decision part: for each packet, drop (None) or the delay in seconds. No I/O."""

    def __init__(self, imp: Impairment) -> None:
        self.imp = imp
        self.rng = random.Random(imp.seed)
        self.bad = False
        # Gilbert–Elliott transition probabilities for the asked mean loss and burst length (in packets):
        # leave the bad state with r = 1/burst, enter it with p so that the time spent there gives the mean loss.
        self.r = 1.0 / max(1.0, imp.burst_len)
        span = (imp.bad_loss_pct - imp.good_loss_pct) / 100.0
        share_bad = (imp.burst_loss_pct - imp.good_loss_pct) / 100.0 / span if span > 0 else 0.0
        share_bad = min(max(share_bad, 0.0), 0.999)
        self.p = self.r * share_bad / (1.0 - share_bad)

    def decide(self) -> float | None:
        imp = self.imp
        rng = self.rng
        # draw every number for every packet, whatever the case, so the streams stay in step across cases
        u_ge, u_state, u_loss, u_jit = rng.random(), rng.random(), rng.random(), rng.random()
        dropped = u_loss < imp.loss_pct / 100.0
        if imp.burst_loss_pct > 0:
            self.bad = (u_state >= self.r) if self.bad else (u_state < self.p)
            dropped = dropped or u_ge < (imp.bad_loss_pct if self.bad else imp.good_loss_pct) / 100.0
        if dropped:
            return None
        return max(0.0, imp.delay_ms + (2.0 * u_jit - 1.0) * imp.jitter_ms) / 1000.0


def rtp_seq(pkt: bytes) -> int | None:
    if len(pkt) >= 12 and pkt[0] >> 6 == 2:
        return int(struct.unpack_from("!H", pkt, 2)[0])
    return None


@dataclass
class RelayStats:
    to_phone: int = 0        # packets the far end sent towards the phone
    dropped: int = 0
    delivered: int = 0
    reordered: int = 0       # delivered after a packet with a higher sequence number
    from_phone: int = 0
    rtcp_from_phone: int = 0
    delays_ms: list[float] = field(default_factory=list)

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.dropped / self.to_phone if self.to_phone else 0.0


class Relay:
    """The relay (a thread). ``port`` goes into the far end's SDP; ``far`` is where the far end takes RTP."""

    def __init__(self, far: Address, impairment: Impairment | None = None, mangle: Mangler | None = None,
                 host: str = "127.0.0.1") -> None:
        self.far = far
        self.impairment = impairment or CASES["clean"]
        self.mangle = mangle
        self.near, self.rtcp = _rtp_pair(host)
        self.port = int(self.near.getsockname()[1])
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.out.bind((host, 0))
        self.phone: Address | None = None
        self.stats = RelayStats()
        self._imp = Impairer(self.impairment)
        self._queue: list[tuple[float, int, bytes]] = []
        self._n = 0
        self._top: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="netimpair", daemon=True)

    def start(self) -> Relay:
        self._t.start()
        return self

    def set_case(self, impairment: Impairment, mangle: Mangler | None = None) -> None:
        """Takes effect at the next phone (new source address) or :meth:`reset`."""
        with self._lock:
            self.impairment = impairment
            self.mangle = mangle
            self.phone = None

    def reset(self) -> None:
        with self._lock:
            self.phone = None

    def _new_session(self, phone: Address) -> None:
        self.phone = phone
        self.stats = RelayStats()
        self._imp = Impairer(self.impairment)
        self._queue.clear()
        self._n = 0
        self._top = None

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for s in (self.near, self.rtcp, self.out):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                timeout = 0.05
                if self._queue:
                    timeout = min(timeout, max(0.0, self._queue[0][0] - time.monotonic()))
                for key, _ in sel.select(timeout):
                    self._read(key.fileobj)
                self._flush()
        finally:
            sel.close()

    def _read(self, sock: Any) -> None:
        while True:
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:          # ICMP unreachable from a phone that went away
                continue
            with self._lock:
                if sock is self.rtcp:
                    self.stats.rtcp_from_phone += 1
                elif sock is self.near:
                    if addr != self.phone:
                        self._new_session(addr)
                    self.stats.from_phone += 1
                    self.out.sendto(data, self.far)
                elif self.phone is not None:
                    self._towards_phone(data)

    def _towards_phone(self, data: bytes) -> None:
        pkts = self.mangle(self._n, data) if self.mangle is not None else [data]
        self._n += 1
        now = time.monotonic()
        for pkt in pkts:
            self.stats.to_phone += 1
            delay = self._imp.decide()
            if delay is None:
                self.stats.dropped += 1
                continue
            self.stats.delays_ms.append(delay * 1000)
            if delay <= 0 and not self._queue:
                self._deliver(pkt)
            else:
                heapq.heappush(self._queue, (now + delay, self.stats.to_phone, pkt))

    def _flush(self) -> None:
        with self._lock:
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                self._deliver(heapq.heappop(self._queue)[2])

    def _deliver(self, pkt: bytes) -> None:
        if self.phone is None:
            return
        seq = rtp_seq(pkt)
        if seq is not None:
            if self._top is not None and 0 < (self._top - seq) % 65536 < 32768:
                self.stats.reordered += 1
            else:
                self._top = seq
        self.stats.delivered += 1
        try:
            self.near.sendto(pkt, self.phone)
        except OSError:
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._t.is_alive():
            self._t.join(2)
        for s in (self.near, self.rtcp, self.out):
            s.close()


def _rtp_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """An even port for RTP and the odd one above it for RTCP (where phones send RTCP when SDP has no a=rtcp)."""
    for _ in range(100):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind((host, 0))
        port = a.getsockname()[1]
        if port % 2 or port >= 65535:
            a.close()
            continue
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            b.bind((host, port + 1))
        except OSError:
            a.close()
            b.close()
            continue
        return a, b
    raise RuntimeError("no free RTP/RTCP port pair")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--far", required=True, help="HOST:PORT of the far end's RTP")
    ap.add_argument("--case", choices=sorted(CASES), default="clean")
    args = ap.parse_args()
    host, _, port = args.far.rpartition(":")
    relay = Relay((host, int(port)), CASES[args.case]).start()
    print(relay.port, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        relay.stop()
        s = relay.stats
        print(f"to phone {s.to_phone}, dropped {s.dropped} ({s.loss_pct:.1f} %), reordered {s.reordered}")


if __name__ == "__main__":
    main()
