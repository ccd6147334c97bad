"""Command line: ``softphone run|serve|ctl|account|history|doctor`` (an interface scripts rely on).

Exit codes: 0 ok, 1 runtime failure (e.g. a command the engine refused), 2 bad usage or configuration,
3 engine not running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softphone import __version__, paths
from softphone.errors import ConfigError, EngineNotRunning, SoftphoneError

if TYPE_CHECKING:
    from softphone import config as cfg
    from softphone.platform.lock import FileLock

log = logging.getLogger("softphone")

LINK_SCHEMES = ("tel:", "sip:", "sips:", "callto:")

# Subcommand trees owned by other packages: module path -> register(subparsers)
PLUGINS = ("softphone.widget.cli", "softphone.hubspot.cli", "softphone.desktop.cli", "softphone.audio.cli",
           "softphone.headset.cli")


class _Redact(logging.Filter):
    """Belt and braces: never let a line that looks like a credential reach a log sink."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage().lower()
        return not any(k in msg for k in ("password=", "authorization: digest", "hapikey="))


def setup_logging(data_dir: Path | None, verbose: bool = False) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    err.setLevel(logging.DEBUG if verbose else logging.INFO)
    err.addFilter(_Redact())
    root.addHandler(err)
    if data_dir is not None:
        logs = data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(logs / "softphone.log", maxBytes=2_000_000, backupCount=3)
        fh.setFormatter(fmt)
        fh.setLevel(logging.DEBUG if verbose else logging.INFO)
        fh.addFilter(_Redact())
        root.addHandler(fh)
    logging.getLogger("softphone.pjsip").setLevel(logging.INFO if not verbose else logging.DEBUG)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _die(msg: str, code: int) -> int:
    print(f"softphone: {msg}", file=sys.stderr)
    return code


# ---------------------------------------------------------------------------------------------- serve / run


def cmd_serve(args: argparse.Namespace) -> int:
    """Headless engine: SIP, widget server, ctl API. Prints one JSON ``ready`` line on stdout."""
    from softphone import config as cfg

    try:
        settings = cfg.load()
    except ConfigError as exc:
        return _die(exc.message, 2)
    data_dir = cfg.data_dir()
    setup_logging(data_dir, args.verbose)
    from softphone.control.client import ControlClient

    if ControlClient(data_dir).is_running():
        return _die(f"another instance is already running (data dir {data_dir}).", 1)
    # The SIP command thread and the audio callbacks wait for the GIL while the runtime loop finishes its
    # work (history write, events): a 1 ms switch interval instead of 5 ms keeps them from queueing behind it.
    sys.setswitchinterval(0.001)
    lock = _instance_lock(data_dir)
    if lock is None:
        return _die(f"another instance is starting or running (lock in {data_dir}).", 1)
    try:
        return asyncio.run(_serve(settings, data_dir))
    finally:
        lock.release()


def _instance_lock(data_dir: Path) -> FileLock | None:
    from softphone.platform.lock import FileLock

    return FileLock.try_acquire(data_dir / "engine.lock")


async def _serve(settings: cfg.Settings, data_dir: Path) -> int:
    from softphone.app import Engine
    from softphone.control.server import ControlServer

    audio = os.environ.get("SOFTPHONE_AUDIO", "").lower() not in ("off", "0", "none")
    engine = Engine(settings, data_dir, services=[ControlServer()], audio=audio)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        ready = await engine.start()
    except Exception as exc:
        log.exception("engine failed to start")
        print(json.dumps({"event": "error", "message": str(exc)}), flush=True)
        with contextlib.suppress(Exception):
            await engine.stop()
        return 1
    ready["pid"] = os.getpid()
    ready["control_socket"] = str(data_dir / "ctl.sock")
    print(json.dumps(ready), flush=True)
    await stop.wait()
    log.info("shutting down")
    await engine.stop()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The app: the desktop window when available (it starts or attaches to the engine), else the engine."""
    links = [a for a in (args.links or []) if a.lower().startswith(LINK_SCHEMES)]
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        # Qt would abort without a display: a headless box (SSH, CI) still gets the full phone and the widget.
        if links:
            return _forward_links(links)
        print("softphone: no graphical display (DISPLAY/WAYLAND_DISPLAY unset): running the headless engine. "
              "Open https://localhost:9025/sandbox in a browser, or drive it with `softphone ctl`.",
              file=sys.stderr)
        return cmd_serve(args)
    try:
        desktop = importlib.import_module("softphone.desktop.main")
        run_window: Callable[[list[str]], int] = desktop.run_window
    except ImportError as exc:
        log.debug("no desktop window: %s", exc)
        if links:
            return _forward_links(links)
        return cmd_serve(args)
    return run_window(links)


def _forward_links(links: list[str]) -> int:
    """Links with no window to show them in. A link on a web page must not place a call by itself: with
    ``confirm_link_dial`` (the default) the number is only checked and shown, and the rep dials it."""
    from softphone import config as cfg
    from softphone.control.client import ControlClient

    try:
        confirm = cfg.load().confirm_link_dial
    except ConfigError as exc:
        return _die(exc.message, 2)
    client = ControlClient(paths.data_dir())
    rc = 0
    for link in links:
        try:
            if confirm:
                r = client.command("normalize", number=link)
                print(f"softphone: {r['display']} was not dialled: links wait for you to confirm "
                      f"(confirm_link_dial = true). Call it with: softphone ctl dial {r['display']}",
                      file=sys.stderr)
                rc = 1
                continue
            r = client.command("dial", number=link)
            print(f"dialling {r['remote']}")
        except EngineNotRunning as exc:
            return _die(exc.message, 3)
        except SoftphoneError as exc:
            rc = _die(exc.message, 1)
    return rc


# ---------------------------------------------------------------------------------------------- ctl


def _ctl(name: str, build: Callable[[argparse.Namespace], dict[str, Any]] | None = None) -> Callable[
        [argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from softphone.control.client import ControlClient

        try:
            result = ControlClient(paths.data_dir()).command(name, **(build(args) if build else {}))
        except EngineNotRunning as exc:
            return _die(exc.message, 3)
        except SoftphoneError as exc:
            return _die(exc.message, 1)
        if getattr(args, "json", False):
            print(json.dumps(result, indent=2, default=str))
        else:
            print(_describe(name, result))
        return 0
    return run


def _describe(name: str, r: dict[str, Any]) -> str:
    if name == "status":
        lines = [f"available: {'yes' if r.get('available') else 'no (do not disturb)'}"]
        for a in r.get("accounts", []):
            lines.append(f"account {a['name']}: {a['registration']}"
                         + (f" ({a['reason'] or a['sip_code']})" if a.get("reason") or a.get("sip_code") else "")
                         + (" [demo line]" if a.get("demo") else ""))
        calls = r.get("calls", [])
        if not calls:
            lines.append("no calls")
        for c in calls:
            flags = [f for f in ("muted", "held") if c.get(f)]
            lines.append(f"call {c['call_id']} {c['direction']} {c['remote']} {c['state']}"
                         + (f" [{', '.join(flags)}]" if flags else ""))
        return "\n".join(lines)
    if "call_id" in r:
        return f"{name}: {r['remote']} ({r['state']}) call_id={r['call_id']}"
    return f"{name}: ok"


# ---------------------------------------------------------------------------------------------- accounts


def _account_command(command: str, **args: Any) -> dict[str, Any]:
    """Run an account command in the running engine (so it re-registers at once), or, with no engine running,
    through the same ``AccountService`` directly on the config file and keyring."""
    from softphone.control.client import ControlClient

    client = ControlClient(paths.data_dir())
    if client.is_running():
        return client.command(command, **args)
    from softphone.accounts import AccountService

    svc = AccountService()
    if command == "account_save":
        return {"account": svc.save(args["account"], args.get("original_name")).model_dump(mode="json")}
    if command == "account_remove":
        return {"removed": svc.remove(args["name"])}
    if command == "set_password":
        return {"account": svc.set_password(args["account"], args["password"], turn=args.get("turn", False))}
    raise AssertionError(command)


def cmd_account_add(args: argparse.Namespace) -> int:
    fields = {"name": args.name, "sip_uri": args.sip_uri, "registrar": args.registrar, "proxy": args.proxy,
              "transport": args.transport, "auth_username": args.auth_username,
              "default_country": args.default_country, "display_name": args.display_name}
    try:
        acc = _account_command("account_save", account={k: v for k, v in fields.items() if v is not None})
    except SoftphoneError as exc:
        return _die(exc.message.replace("Account not saved: ", "invalid account: "), 2)
    name = acc["account"]["name"]
    print(f"added account {name}")
    if args.auth_username:
        print(f"now store its password: softphone account set-password {name!r}")
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    from softphone import config as cfg
    from softphone import secrets

    try:
        settings = cfg.load()
    except ConfigError as exc:
        return _die(exc.message, 2)
    rows = []
    for a in settings.accounts:
        d = a.model_dump(mode="json", exclude_none=True)
        try:
            d["password_stored"] = bool(a.auth_username) and secrets.read_password(a.name) is not None
        except SoftphoneError as exc:
            d["password_stored"] = False
            d["keyring_error"] = exc.message
        rows.append(d)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no accounts configured (the demo line is used). Add one: softphone account add NAME --sip-uri ...")
    else:
        for d in rows:
            pw = "password in keyring" if d["password_stored"] else d.get("keyring_error") or (
                "NO PASSWORD (softphone account set-password)" if d.get("auth_username") else "no auth")
            print(f"{d['name']}: {d['sip_uri']} via {d.get('registrar') or 'direct (no registrar)'} "
                  f"[{d['transport']}] {pw}")
    return 0


def cmd_account_remove(args: argparse.Namespace) -> int:
    try:
        _account_command("account_remove", name=args.name)
    except SoftphoneError as exc:
        return _die(exc.message, 2)
    print(f"removed account {args.name} (and its keyring passwords)")
    return 0


def cmd_account_set_password(args: argparse.Namespace) -> int:
    from softphone import secrets

    what = "TURN password" if args.turn else "password"
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"{what.capitalize()} for {args.name}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        _account_command("set_password", account=args.name, password=password, turn=args.turn)
    except SoftphoneError as exc:
        return _die(exc.message, 2 if exc.message.startswith("No account") else 1)
    print(f"{what} for {args.name} stored in the keyring ({secrets.backend_name()})")
    return 0


# ---------------------------------------------------------------------------------------------- history


def cmd_history(args: argparse.Namespace) -> int:
    from softphone.storage.history import HistoryStore

    path = paths.data_dir() / "history.db"
    if not path.exists():
        rows: list[dict[str, Any]] = []
    else:
        store = HistoryStore(path)
        try:
            rows = store.list(limit=args.limit, query=args.search or "", status=args.status)
        finally:
            store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no calls yet")
    for r in rows:
        dur = f"{r['duration_s']:.0f}s" if r["duration_s"] else "-"
        arrow = "→" if r["direction"] == "outbound" else "←"
        name = f" {r['remote_name']}" if r["remote_name"] else ""
        print(f"{r['started_at'][:19].replace('T', ' ')}  {arrow} {r['remote']}{name}  "
              f"{r['end_status'] or r['state']}  {dur}  [{r['account']}]")
    return 0


# ---------------------------------------------------------------------------------------------- doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    from softphone.doctor import report

    text, ok = report()
    print(text)
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------- parser


CORE_COMMANDS = frozenset({"run", "serve", "ctl", "account", "history", "doctor"})


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="softphone", description="SIP softphone for HubSpot.")
    p.add_argument("--version", action="version", version=f"softphone {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="start the app (window + engine)")
    r.add_argument("links", nargs="*", help="tel:/sip:/callto: links to dial")
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("serve", help="headless engine: SIP, widget server, control API")
    s.set_defaults(func=cmd_serve)

    ctl = sub.add_parser("ctl", help="control the running instance").add_subparsers(dest="ctl", metavar="ACTION")
    ctl.required = True
    d = ctl.add_parser("dial", help="call a number or SIP URI")
    d.add_argument("number")
    d.add_argument("--account")
    d.add_argument("--country", help="two-letter country for national numbers")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_ctl("dial", lambda a: {k: v for k, v in (("number", a.number), ("account", a.account),
                                                                  ("country", a.country)) if v}))
    for name, helptext in (("answer", "answer the ringing call"), ("decline", "decline the ringing call"),
                           ("hangup", "hang up"), ("hold", "hold the call"), ("resume", "resume a held call"),
                           ("swap", "swap between two calls")):
        c = ctl.add_parser(name, help=helptext)
        c.add_argument("--call-id")
        c.add_argument("--json", action="store_true")
        if name == "swap":
            c.set_defaults(func=_ctl(name))
        else:
            c.set_defaults(func=_ctl(name, lambda a: {"call_id": a.call_id} if a.call_id else {}))
    for name in ("mute", "unmute"):
        c = ctl.add_parser(name, help=f"{name} the microphone")
        c.add_argument("--call-id")
        c.add_argument("--json", action="store_true")
        c.set_defaults(func=_ctl(name, lambda a: {"call_id": a.call_id} if a.call_id else {}))
    c = ctl.add_parser("dtmf", help="send DTMF digits")
    c.add_argument("digits")
    c.add_argument("--call-id")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_ctl("dtmf", lambda a: {"digits": a.digits, **({"call_id": a.call_id} if a.call_id else {})}))
    c = ctl.add_parser("transfer", help="transfer: a number/URI (blind) or another call's id (attended)")
    c.add_argument("target")
    c.add_argument("--call-id")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_ctl("transfer", lambda a: {"target": a.target,
                                                    **({"call_id": a.call_id} if a.call_id else {})}))
    c = ctl.add_parser("status", help="accounts, registration and calls")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_ctl("status"))
    c = ctl.add_parser("dnd", help="do not disturb on/off")
    c.add_argument("state", choices=["on", "off"])
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_ctl("set_available", lambda a: {"available": a.state == "off"}))
    c = ctl.add_parser("demo-call-me", help="have the demo line call you")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_ctl("demo_call_me"))

    acc = sub.add_parser("account", help="manage SIP accounts").add_subparsers(dest="account", metavar="ACTION")
    acc.required = True
    a = acc.add_parser("add", help="add an account to the config file")
    a.add_argument("name")
    a.add_argument("--sip-uri", required=True)
    a.add_argument("--registrar")
    a.add_argument("--proxy")
    a.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    a.add_argument("--auth-username")
    a.add_argument("--default-country", default="US")
    a.add_argument("--display-name")
    a.set_defaults(func=cmd_account_add)
    a = acc.add_parser("list", help="list accounts")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_account_list)
    a = acc.add_parser("remove", help="remove an account and its password")
    a.add_argument("name")
    a.set_defaults(func=cmd_account_remove)
    a = acc.add_parser("set-password", help="store the account password in the keyring (reads stdin)")
    a.add_argument("name")
    a.add_argument("--turn", action="store_true", help="the account's TURN password instead of its SIP password")
    a.set_defaults(func=cmd_account_set_password)

    h = sub.add_parser("history", help="call history")
    h.add_argument("--json", action="store_true")
    h.add_argument("--limit", type=_positive_int, default=20)
    h.add_argument("--search")
    h.add_argument("--status", choices=["COMPLETED", "FAILED", "CANCELED", "BUSY", "NO_ANSWER", "REJECTED", "MISSED"])
    h.set_defaults(func=cmd_history)

    doc = sub.add_parser("doctor", help="check config, accounts, transports, audio, ports")
    doc.set_defaults(func=cmd_doctor)

    for mod in PLUGINS if plugins else ():
        try:
            register = importlib.import_module(mod).register
        except (ImportError, AttributeError):
            continue
        register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `softphone tel:+1555...` (a link handler) forwards to the running instance.
    if argv and argv[0].lower().startswith(LINK_SCHEMES):
        argv = ["run", *argv]
    # Plugin subcommands import heavy modules (certificates, Qt, HTTP clients): skip them for the core
    # commands so `softphone ctl dial` starts quickly.
    parser = build_parser(plugins=not (argv and argv[0] in CORE_COMMANDS))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if args.command not in ("serve", "run"):
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        return _die(exc.message, 2)
    except EngineNotRunning as exc:
        return _die(exc.message, 3)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
