"""Raw SIP over UDP from an address of our choosing: what a scanner or an attacker on the LAN would send."""

from __future__ import annotations

import socket
import time
import uuid


def invite(target: str, host: str, port: int, src: tuple[str, int], *, from_header: str | None = None,
           extra: str = "", to_tag: bool = False, body: str = "") -> bytes:
    branch = f"z9hG4bK{uuid.uuid4().hex}"
    frm = from_header or f"<sip:scanner@{src[0]}>;tag={uuid.uuid4().hex[:8]}"
    to = f"<sip:{target}@{host}>" + (";tag=abc" if to_tag else "")
    return (f"INVITE sip:{target}@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {src[0]}:{src[1]};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: {frm}\r\nTo: {to}\r\nCall-ID: {uuid.uuid4().hex}@{src[0]}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:scanner@{src[0]}:{src[1]}>\r\n{extra}"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}").encode()


def request(method: str, target: str, host: str, port: int, src: tuple[str, int], extra: str = "") -> bytes:
    return (f"{method} sip:{target}@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {src[0]}:{src[1]};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:scanner@{src[0]}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{target}@{host}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 {method}\r\n{extra}"
            f"Content-Length: 0\r\n\r\n").encode()


class Stranger:
    """A UDP socket bound to a loopback address other than the engine's (127.0.0.2 by default)."""

    def __init__(self, ip: str = "127.0.0.2") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.addr: tuple[str, int] = self.sock.getsockname()

    def send(self, data: bytes, host: str, port: int) -> None:
        self.sock.sendto(data, (host, port))

    def replies(self, wait: float = 1.0) -> list[bytes]:
        out: list[bytes] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                out.append(self.sock.recv(65535))
            except (TimeoutError, BlockingIOError):
                break
        return out

    def status_codes(self, wait: float = 1.0) -> list[int]:
        codes = []
        for r in self.replies(wait):
            first = r.split(b"\r\n", 1)[0].split()
            if len(first) >= 2 and first[0] == b"SIP/2.0" and first[1].isdigit():
                codes.append(int(first[1]))
        return codes

    def close(self) -> None:
        self.sock.close()
