"""``python -m softphone.desktop [LINK]``: the window alone (development entry;
``softphone run`` is the real one)."""

from __future__ import annotations

import logging
import os
import sys

from softphone.desktop.main import run_window

logging.basicConfig(level=os.environ.get("SOFTPHONE_LOG_LEVEL", "INFO"),
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
sys.exit(run_window(sys.argv[1:]))
