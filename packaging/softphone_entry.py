"""Entry point of the frozen (PyInstaller) app: the same command line as the ``softphone`` console script
(``softphone.cli:main``), plus ``--bundle-selftest`` (packaging/bundle_check.py: native libraries and TLS
stacks of the bundle, JSON on stdout).
"""

from __future__ import annotations

import sys


def frozen_argv(argv: list[str]) -> list[str]:
    """A frozen app has no interpreter behind ``sys.executable``: ``sys.executable -m softphone ARGS`` (how the
    window starts the engine, softphone/desktop/engine.py) means ``softphone ARGS`` here."""
    if argv[:2] == ["-m", "softphone"]:
        return argv[2:]
    return argv


def main() -> int:
    args = frozen_argv(sys.argv[1:])
    if args[:1] == ["--bundle-selftest"]:
        import bundle_check

        return bundle_check.main(args[1:])
    from softphone.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
