"""The real engine with a virtual headset (``tests.headset.socket_hid``) *and* the CRM service, for the headset
redial scenario (run as ``python -m tests.hubspot.crm_headset_serve``; environment as for both of those)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from tests.hubspot import crm_serve


async def _serve() -> int:
    from softphone import config as cfg
    from softphone.app import Engine
    from softphone.control.server import ControlServer
    from softphone.headset.decode import iter_hex
    from softphone.headset.service import HeadsetService
    from tests.headset.socket_hid import SocketHidBackend

    settings = cfg.load()
    data_dir = cfg.data_dir()
    descriptor = bytes(iter_hex(Path(os.environ["SOFTPHONE_TEST_HID_DESCRIPTOR"]).read_text()))
    headset = HeadsetService(SocketHidBackend(os.environ["SOFTPHONE_TEST_HID_SOCKET"], descriptor), poll_s=0.1,
                             read_timeout_ms=50)
    engine = Engine(settings, data_dir, services=[ControlServer(), headset, crm_serve.service()],
                    optional_services=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = await engine.start()
    ready["pid"] = os.getpid()
    print(json.dumps(ready), flush=True)
    await stop.wait()
    await engine.stop()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    crm_serve._install()
    raise SystemExit(asyncio.run(_serve()))
