"""The hosted side of the NAT topology: a PBX (kamailio with nathelper, rtpengine as its media relay) and coturn
as STUN/TURN server, each running in the topology's "wan" namespace.

The PBX does what hosted PBXes do for phones behind NAT: rport on every request, the address a REGISTER came from
stored as the contact's ``received`` (``fix_nated_register``), ``set_contact_alias`` / ``handle_ruri_alias`` for
in-dialog requests, and rtpengine anchoring the media of every call (``rtpengine_manage``). It never pings the
phones itself (``natping_interval 0``): the phone's own keep-alives are what must hold its router's mapping.
A number dialled with a leading ``9`` (``sip:9far@…``) is routed without the media relay, as a PBX in
"direct media" mode or a SIP trunk that passes SDP through would: then only the phones' own NAT traversal
(STUN/ICE/TURN) can get audio through. A leading ``8`` relays the media but answers every re-INVITE of the call
with 488, as PBXes that do not let a call move do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.nat.topology import (
    PBX_IP,
    TURN_ALT_IP,
    TURN_IP,
    TURN_REFUSING_IP,
    Topology,
    TopologyError,
    wait_udp_listener,
)

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
SIP_PORT = 5060
RTPENGINE_NG = 2223
TURN_PORT = 3478
TURN_REALM = "nat.test"
TURN_USER = "rep"
TURN_PASSWORD = "turn-test-pass"       # test-only TURN secret, given to coturn with --user
INSTALL = "apt-get install kamailio rtpengine-daemon coturn (or run `make test`)"

KAMAILIO_NAT_CFG = """#!KAMAILIO
#!define FLT_NATS 5
#!define FLB_NATB 6
#!define FLT_RELAY 7
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=2
tcp_children=2
auto_aliases=no
listen=udp:{ip}:{port}
listen=tcp:{ip}:{port}
alias="{ip}:{port}"
mpath="{modules}"
loadmodule "kex.so"
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
loadmodule "nathelper.so"
loadmodule "rtpengine.so"
loadmodule "ctl.so"
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "nat_bflag", FLB_NATB)
modparam("registrar", "min_expires", 5)
modparam("registrar", "default_expires", 60)
modparam("registrar", "max_expires", 3600)
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "natping_interval", 0)
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng}")
modparam("rr", "append_fromtag", 0)
modparam("ctl", "binrpc", "unix:{ctl}")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    route(NATDETECT);
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ route(RELAY); }} exit; }}
    if (has_totag()) {{
        if (loose_route()) {{
            if (is_method("INVITE") && check_route_param("nomove=yes")) {{
                sl_send_reply("488", "Not Acceptable Here");
                exit;
            }}
            if (check_route_param("relay=yes")) {{ setflag(FLT_RELAY); }}
            handle_ruri_alias();
            route(RELAY);
            exit;
        }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ route(RELAY); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        if (isflagset(FLT_NATS)) {{ setbflag(FLB_NATB); }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE|REFER")) {{ record_route(); }}
    if (is_method("INVITE")) {{
        if ($rU =~ "^9") {{ strip(1); }}
        else if ($rU =~ "^8") {{ strip(1); setflag(FLT_RELAY); add_rr_param(";relay=yes;nomove=yes"); }}
        else {{ setflag(FLT_RELAY); add_rr_param(";relay=yes"); }}
    }}
    if (uri == myself) {{
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    }}
    route(RELAY);
    exit;
}}

route[RELAY] {{
    if (is_method("INVITE|BYE|UPDATE|CANCEL|ACK")) {{ t_on_branch("MANAGE_BRANCH"); t_on_reply("MANAGE_REPLY"); }}
    route(NATMANAGE);
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

route[NATDETECT] {{
    force_rport();
    if (nat_uac_test("19")) {{
        if (is_method("REGISTER")) {{ fix_nated_register(); }}
        else if (is_first_hop()) {{ set_contact_alias(); }}
        setflag(FLT_NATS);
    }}
}}

route[NATMANAGE] {{
    if (isflagset(FLT_RELAY) && has_body("application/sdp")) {{
        rtpengine_manage("replace-origin replace-session-connection ICE=remove");
    }} else if (isflagset(FLT_RELAY) && is_method("BYE|CANCEL")) {{
        rtpengine_manage();
    }}
    if (is_reply() && isbflagset(FLB_NATB) && is_first_hop()) {{ set_contact_alias(); }}
}}

branch_route[MANAGE_BRANCH] {{
    xlog("L_INFO", "branch $rm to $ru via $du\\n");
}}

onreply_route[MANAGE_REPLY] {{
    if (status =~ "[12][0-9][0-9]") {{
        if (nat_uac_test("1") && is_first_hop()) {{ set_contact_alias(); }}
        if (isflagset(FLT_RELAY) && has_body("application/sdp")) {{
            rtpengine_manage("replace-origin replace-session-connection ICE=remove");
        }}
    }}
}}
"""


def require_servers() -> None:
    missing = [b for b in ("kamailio", "rtpengine", "turnserver") if shutil.which(b) is None]
    if missing:
        raise TopologyError(f"{', '.join(missing)} not installed: {INSTALL}")


class NatPbx:
    """kamailio + rtpengine at ``PBX_IP`` in the wan namespace."""

    def __init__(self, topo: Topology, workdir: Path) -> None:
        self.topo = topo
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "kamailio.log"
        self.rtp_log = self.dir / "rtpengine.log"
        self.procs: list[subprocess.Popen[Any]] = []

    @property
    def domain(self) -> str:
        return f"{PBX_IP}:{SIP_PORT}"

    def uri(self, user: str = "", *, relay: bool = True) -> str:
        prefix = "" if relay else "9"
        return f"sip:{prefix}{user}@{self.domain}" if user else f"sip:{self.domain}"

    def start(self) -> NatPbx:
        ns = self.topo.wan
        self.procs.append(self.topo.spawn(ns, [
            # no /etc/rtpengine/rtpengine.conf: its listen-cli/listen-http "localhost" is ::1 on an installed
            # Debian (/etc/hosts), which the wan namespace has no address for, and rtpengine then exits
            "rtpengine", "--config-file=none", "--foreground", "--log-stderr", "--table=-1", f"--interface={PBX_IP}",
            f"--listen-ng=127.0.0.1:{RTPENGINE_NG}", "--port-min=30000", "--port-max=30999", "--num-threads=2",
            "--log-level=5", f"--pidfile={self.dir / 'rtpengine.pid'}", "--delete-delay=0",
        ], log=self.rtp_log))
        wait_udp_listener(ns, "127.0.0.1", RTPENGINE_NG)
        cfg = self.dir / "kamailio.cfg"
        cfg.write_text(KAMAILIO_NAT_CFG.format(ip=PBX_IP, port=SIP_PORT, modules=KAMAILIO_MODULES,
                                               ng=RTPENGINE_NG, ctl=self.ctl))
        run = self.dir / "run"
        run.mkdir(exist_ok=True)
        self.procs.append(self.topo.spawn(ns, ["kamailio", "-DD", "-E", "-f", str(cfg), "-Y", str(run), "-m", "32",
                                               "-M", "8"], log=self.log))
        try:
            wait_udp_listener(ns, PBX_IP, SIP_PORT)
        except TopologyError:
            raise TopologyError(f"kamailio did not start: {self.log.read_text()[-2000:]}") from None
        return self

    @property
    def ctl(self) -> Path:
        return self.dir / "kamailio.ctl"

    def contacts(self, user: str) -> list[str]:
        """Where the PBX would send a call for ``user`` now: the ``received`` address of each registered contact
        (or the Contact itself when the phone was not behind NAT), from kamailio's location table."""
        r = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", "ul.lookup", "location", user],
                           capture_output=True, text=True, timeout=10)
        out: list[str] = []
        received = re.findall(r"Received:\s*(\S+)", r.stdout)
        addresses = re.findall(r"Address:\s*(\S+)", r.stdout)
        for i, addr in enumerate(addresses):
            rcv = received[i] if i < len(received) and received[i] not in ("", "[not", "[not set]") else ""
            out.append(rcv or addr)
        return out

    def stop(self) -> None:
        for p in reversed(self.procs):
            self.topo.stop(p)
        self.procs.clear()


class Coturn:
    """coturn at ``TURN_IP`` (and ``TURN_ALT_IP``, for RFC 5780 NAT behaviour discovery): STUN and TURN over
    UDP and TCP with one long-term credential; ``refuse_allocations`` makes it answer every allocation with an
    error, as a TURN server that is full or misconfigured does."""

    def __init__(self, topo: Topology, workdir: Path, *, refuse_allocations: bool = False) -> None:
        self.ip = TURN_REFUSING_IP if refuse_allocations else TURN_IP
        self.topo = topo
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "coturn.log"
        self.refuse = refuse_allocations
        self.proc: subprocess.Popen[Any] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{TURN_PORT}"

    def start(self) -> Coturn:
        args = ["turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint", "--lt-cred-mech",
                f"--realm={TURN_REALM}", f"--user={TURN_USER}:{TURN_PASSWORD}", f"--listening-ip={self.ip}",
                f"--relay-ip={self.ip}", f"--listening-port={TURN_PORT}",
                "--min-port=40000", "--max-port=40999", "--log-file=stdout", "--simple-log", "--no-stdout-log", "--verbose",
                f"--pidfile={self.dir / 'turnserver.pid'}", f"--userdb={self.dir / 'turndb'}"]
        if self.refuse:
            args.append("--no-udp-relay")      # every UDP allocation answered 442 (Unsupported Transport)
        else:
            args.append(f"--listening-ip={TURN_ALT_IP}")
        self.proc = self.topo.spawn(self.topo.wan, args, log=self.log)
        try:
            wait_udp_listener(self.topo.wan, self.ip, TURN_PORT)
        except TopologyError:
            raise TopologyError(f"coturn did not start: {self.log.read_text()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.topo.stop(self.proc)
            self.proc = None
