"""Real engines for the CRM scenarios: ``softphone serve`` (through ``tests.hubspot.crm_serve``, which loads the
CRM service) in a temp dir, pointed at the HTTPS stand-in of HubSpot's API and trusting its CA."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.peers import EngineProcess, account_toml, wait_for

from .crm_contract import CrmContract

FAST = {"backoff_s": [0.2, 2.0], "index_lag_s": 2.0, "token_poll_s": 0.2, "rejected_retry_s": 60.0}


def need(binary: str) -> None:
    if shutil.which(binary) is None:
        raise AssertionError(f"{binary} is not installed: run `make test` (or apt-get install -y "
                             f"{ {'sipp': 'sip-tester'}.get(binary, binary)}) to get the test peers")


def trunk(sipp_port: int) -> str:
    """An IP-trunk account whose outbound proxy is the sipp peer: every number goes straight to it; callers on
    this machine (a sipp UAC on its own port) may ring it too."""
    return account_toml("Office", "+15551230000", None, auth=False, proxy=f"sip:127.0.0.1:{sipp_port}",
                        extra='accept_calls_from = ["host"]')


def crm_config(*accounts: str, crm: CrmContract, sip_port: int = 0, widget_port: int | None = None,
               extra: str = "") -> str:
    head = (f'sip_bind_address = "127.0.0.1"\ndemo_line = "off"\nno_answer_timeout_s = 5\n'
            f"sip_port = {sip_port}\n{extra}\n")
    widget = f"[widget]\nport = {widget_port}\n" if widget_port else "[widget]\nenabled = false\n"
    return head + "".join(accounts) + f'[hubspot]\napi_base_url = "{crm.base_url}"\n' + widget


class CrmEngine(EngineProcess):
    """A real engine with the CRM service. ``token``: put in the environment (``SOFTPHONE_HUBSPOT_TOKEN``);
    None = whatever the engine's keyring holds (``connect()``)."""

    def __init__(self, workdir: Path, config: str, crm: CrmContract, *, token: str | None,
                 opts: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> None:
        extra = {"SSL_CERT_FILE": str(crm.ca), "SOFTPHONE_TEST_CRM_OPTS": json.dumps({**FAST, **(opts or {})})}
        if token is not None:
            extra["SOFTPHONE_HUBSPOT_TOKEN"] = token
        super().__init__(workdir, config, {**extra, **(env or {})})
        if token is None:
            self.env.pop("SOFTPHONE_HUBSPOT_TOKEN", None)
        self.crm = crm

    def connect(self, token: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`softphone hubspot connect` as the rep runs it (token on stdin, stored in this engine's keyring)."""
        return self.cli("hubspot", "connect", *([] if check else ["--no-check"]), input=token + "\n", check=True)

    launch = ("tests.hubspot.crm_serve",)

    def start(self, timeout: float = 20, watch_events: bool = True) -> CrmEngine:
        self._ev_stop.clear()        # restarted engines (outbox resume) watch their events again
        super().start(timeout, watch_events)
        assert "hubspot-crm" in self.ready["services"], self.ready
        return self

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None
        self._ev_stop.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("type") == kind]

    def wait_logged(self, call_id: str, timeout: float = 20) -> dict[str, Any]:
        """The history row once it carries the engagement id HubSpot gave the call."""
        def row() -> dict[str, Any] | None:
            rows: list[dict[str, Any]] = self.ctl("history", limit=50)["calls"]
            r = next((r for r in rows if r["call_id"] == call_id), None)
            return r if r is not None and r["engagement_id"] else None
        result: dict[str, Any] = wait_for(row, timeout, interval=0.1, what=f"call {call_id} logged in HubSpot")
        return result

    def outbox(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.cli("hubspot", "outbox", "--json", check=True).stdout)
        return out
