"""The built-in demo line: a loopback peer on the rep's own endpoint, so the phone works with no PBX at all.

It answers any number after a short ring, plays two beeps, then echoes the rep's audio back. Numbers ending in
486, 480 or 603 get that SIP answer instead, so every end status can be tried. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from typing import Any

import pjsua2 as pj

from softphone.core.events import RegState, SipRegistration
from softphone.core.inbound import ANY_USER, Door, Peer
from softphone.core.numbers import display_remote
from softphone.sip.engine import SipEngine, _Account

log = logging.getLogger(__name__)


class DemoLine:
    """The built-in demo peer: a second account on our endpoint, on its own loopback UDP transport.

    It answers any number after a short ring, plays two beeps, then echoes the rep's audio back. Numbers ending
    in 486, 480 or 603 get that SIP answer instead so every end status can be tried without a PBX.
    """

    def __init__(self, engine: SipEngine, user_account: str) -> None:
        ep = engine.ep
        self.engine = engine
        self.peer_tid, self.port = self._loopback_transport(ep)
        self.user_tid, self.user_port = self._loopback_transport(ep)
        # The peer owns the domain demo.invalid, so pjsua routes every demo INVITE to it.
        pcfg = pj.AccountConfig()
        pcfg.idUri = "sip:demo@demo.invalid"
        pcfg.sipConfig.transportId = self.peer_tid
        pcfg.regConfig.registerOnAdd = False
        self.peer = _Account(engine, "demo-peer", demo_peer=True)
        self.peer.create(pcfg, False)
        # The rep's demo account: every request goes to the peer (outbound proxy), nothing leaves the host.
        ucfg = pj.AccountConfig()
        ucfg.idUri = f"sip:rep@127.0.0.1:{self.user_port}"
        ucfg.sipConfig.transportId = self.user_tid
        ucfg.sipConfig.proxies.append(f"sip:127.0.0.1:{self.port};lr")
        ucfg.regConfig.registerOnAdd = False
        self.user = _Account(engine, user_account)
        self.user.create(ucfg, False)
        engine._accounts[user_account] = self.user
        engine._emit(SipRegistration(user_account, RegState.NONE))
        self.calls: dict[int, _DemoCall] = {}
        self.outgoing: list[_DemoCall] = []
        self.echo_pool: list[_EchoPort] = []

    def doors(self) -> tuple[Door, ...]:
        """The demo line takes calls only from itself: the rep's demo account from the peer's transport, the
        peer (which answers any number) from the rep's."""
        return (Door(self.user.name, frozenset({"rep"}), frozenset({Peer("127.0.0.1", self.port)})),
                Door(self.peer.name, frozenset({ANY_USER}), frozenset({Peer("127.0.0.1", self.user_port)})))

    @staticmethod
    def _loopback_transport(ep: Any) -> tuple[int, int]:
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        tcfg.boundAddress = "127.0.0.1"
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        return tid, int(str(ep.transportGetInfo(tid).localName).rsplit(":", 1)[1])

    def on_incoming(self, acc: _Account, pj_call_id: int) -> None:
        call = _DemoCall(self, acc, pj_call_id)
        self.calls[pj_call_id] = call
        target = _request_user(call)
        code = 180
        for suffix, final in (("486", 486), ("480", 480), ("603", 603)):
            if target.endswith(suffix) and len(target) > 4:
                code = final
        prm = pj.CallOpParam()
        prm.statusCode = code
        call.answer(prm)
        if code == 180:
            self.engine.worker.later(0.8, call.answer_now)

    def call_rep(self) -> None:
        """Ring the rep from the demo line (to try inbound calls, call waiting and the toast)."""
        call = _DemoCall(self, self.peer, pj.PJSUA_INVALID_ID)
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        call.makeCall(f"sip:rep@127.0.0.1:{self.user_port}", prm)
        self.outgoing.append(call)

    def take_echo_port(self) -> _EchoPort:
        return self.echo_pool.pop() if self.echo_pool else _EchoPort()

    def return_echo_port(self, port: _EchoPort) -> None:
        log.info("demo echo: %d frames heard, %d sent back", port.received, port.sent)
        port.received = port.sent = 0
        port.frames.clear()
        self.echo_pool.append(port)

    def stop(self) -> None:
        """On the SIP thread after every call ended: unconnected ports are safe to destroy now."""
        for c in [*self.calls.values(), *self.outgoing]:
            c.release_media()
        self.calls.clear()
        self.outgoing.clear()
        self.echo_pool.clear()
        with contextlib.suppress(pj.Error):
            self.peer.shutdown()


def _request_user(call: pj.Call) -> str:
    """The user part the caller dialled (To header of the INVITE as seen by the peer)."""
    ci = call.getInfo()
    uri = str(ci.localUri)
    return display_remote(uri).lstrip("+")


class _EchoPort(pj.AudioMediaPort):  # type: ignore[misc]
    """The demo line's echo: what it hears it says back a few frames later. (A conference port cannot
    transmit to itself, so ``aud.startTransmit(aud)`` is silent.) Frames stay ByteVectors: copied in C++."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: collections.deque[Any] = collections.deque(maxlen=10)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, 16000, 1, 20000, 16)
        self.createPort("demo-echo", fmt)

    received = 0
    sent = 0

    def onFrameReceived(self, frame: Any) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            self.frames.append(pj.ByteVector(frame.buf))
            self.received += 1

    def onFrameRequested(self, frame: Any) -> None:
        if len(self.frames) > 2:  # ~40 ms of slack against clock jitter
            self.sent += 1
            buf = self.frames.popleft()
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = buf
            frame.size = len(buf)


class _DemoCall(pj.Call):  # type: ignore[misc]
    def __init__(self, line: DemoLine, acc: _Account, pj_id: int) -> None:
        super().__init__(acc, pj_id)
        self.line = line
        self.tone: Any = None
        self.echo: _EchoPort | None = None
        self.aud: Any = None
        self.done = False

    def answer_now(self) -> None:
        if self.done:
            return
        prm = pj.CallOpParam()
        prm.statusCode = 200
        with contextlib.suppress(pj.Error):
            self.answer(prm)

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.done = True
            self._forget()

    def _forget(self) -> None:
        self.release_media()
        pid = next((k for k, v in self.line.calls.items() if v is self), None)
        if pid is not None:
            del self.line.calls[pid]
        if self in self.line.outgoing:
            self.line.outgoing.remove(self)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                aud = self.getAudioMedia(i)
                if self.tone is None:
                    self.tone = pj.ToneGenerator()
                    self.tone.createToneGenerator(16000, 1)
                    tones = pj.ToneDescVector()
                    for _ in range(2):
                        t = pj.ToneDesc()
                        t.freq1 = 660
                        t.freq2 = 0
                        t.on_msec = 200
                        t.off_msec = 150
                        t.volume = 0
                        tones.append(t)
                    self.tone.play(tones, False)
                    self.tone.startTransmit(aud)
                self.aud = aud
                if self.echo is None:
                    self.echo = self.line.take_echo_port()
                    aud.startTransmit(self.echo)
                    self.echo.startTransmit(aud)

    def onDtmfDigit(self, prm: Any) -> None:
        log.info("demo line received DTMF %s", prm.digit)

    def onStreamDestroyed(self, prm: Any) -> None:
        # disconnect the echo while the call's conference slot still exists (see _Call.onStreamDestroyed)
        if self.echo is not None and self.aud is not None:
            for src, dst in ((self.aud, self.echo), (self.echo, self.aud)):
                with contextlib.suppress(pj.Error):
                    src.stopTransmit(dst)
        self.aud = None

    def release_media(self) -> None:
        if self.tone is not None:
            with contextlib.suppress(pj.Error):
                self.tone.stop()
            self.tone = None
        if self.echo is not None:
            # Never destroy a port from a call callback: the clock thread may be about to call into it.
            # It goes back to the line's pool (the ended call's slot and its connections are gone).
            self.line.return_echo_port(self.echo)
            self.echo = None
