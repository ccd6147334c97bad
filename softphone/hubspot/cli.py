"""``softphone hubspot ...``: connect the CRM (private-app token), see the outbox, store the developer API key,
manage the app's calling settings.

    softphone hubspot connect [--base-url URL] [--no-check] [--json]
                                               reads a private-app access token from stdin (no-echo prompt on a
                                               TTY) or SOFTPHONE_HUBSPOT_TOKEN, checks it, stores it in the keyring
    softphone hubspot disconnect               forgets the token (calls waiting in the outbox stay there)
    softphone hubspot outbox [--json]          calls waiting to be written to HubSpot, and why
    softphone hubspot set-key                  reads the key from stdin (prompts without echo on a TTY)
    softphone hubspot settings create --app-id ID --name NAME --url URL [--width N] [--height N] [flags]
    softphone hubspot settings get    --app-id ID
    softphone hubspot settings update --app-id ID [--name ...] [--url ...] [--ready | --no-ready] [...]
    softphone hubspot settings delete --app-id ID --yes
    (every settings action also takes --dry-run and --base-url)

The developer API key lives only in the OS keyring (service ``softphone``, key ``hubspot:developer-api-key``),
the access token under ``hubspot:access-token``: there is deliberately no command-line option for either, and
neither is ever printed or logged.

Wiring (softphone/cli.py): ``register(subparsers)`` adds the ``hubspot`` tree; each leaf parser sets
``func`` (``Callable[[argparse.Namespace], int]``, the exit code), so the main entry point runs
``return args.func(args)``. Exit codes: 0 ok, 1 HubSpot/keyring/network error, 2 invalid input.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softphone import secrets
from softphone.errors import SecretError, SoftphoneError
from softphone.hubspot import crm
from softphone.hubspot.api import (
    DEFAULT_BASE_URL,
    INT32_MAX,
    CallingSettingsClient,
    CallingSettingsInput,
    InvalidSettings,
    describe_request,
    validate_app_id,
    validate_base_url,
    validate_dimension,
    validate_name,
    validate_widget_url,
)

if TYPE_CHECKING:
    from softphone.config import Settings

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

CREATE_DEFAULT_WIDTH = 400
CREATE_DEFAULT_HEIGHT = 600
MAX_KEY_LENGTH = 512

_METHODS = {"create": "POST", "get": "GET", "update": "PATCH", "delete": "DELETE"}

# ------------------------------------------------------------------------------------ argument types


def _arg_type(validator: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return validator(text)
        except InvalidSettings as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    convert.__name__ = validator.__name__.removeprefix("validate_")
    return convert


_app_id_arg = _arg_type(validate_app_id)
_url_arg = _arg_type(validate_widget_url)
_name_arg = _arg_type(validate_name)
_base_url_arg = _arg_type(validate_base_url)
_width_arg = _arg_type(lambda text: validate_dimension(text, "width"))
_height_arg = _arg_type(lambda text: validate_dimension(text, "height"))


# ------------------------------------------------------------------------------------------ parsers


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hubspot connect|disconnect|outbox|set-key`` and ``hubspot settings create|get|update|delete``."""
    hub = subparsers.add_parser(
        "hubspot", help="HubSpot: CRM connection (call logging, caller names), outbox, developer tools",
        description="Connect the CRM with a private-app access token (calls no HubSpot tab saw are logged, "
                    "callers get names), see calls waiting to be logged; developer tools for the calling app: "
                    "store the developer API key and manage the app's calling settings.",
    )
    hub_sub = hub.add_subparsers(dest="hubspot_command", metavar="COMMAND", required=True)

    connect = hub_sub.add_parser(
        "connect", help="store and check a private-app access token (CRM logging, caller names)",
        description="Store a HubSpot private-app access token in the OS keyring (service 'softphone', key "
                    f"'{secrets.HUBSPOT_TOKEN_KEY}') and check it: portal, and the scopes logging calls and "
                    "looking up callers need (crm.objects.contacts.read, crm.objects.contacts.write). The token "
                    "is read from stdin, or prompted for without echo on a terminal; with "
                    f"{secrets.HUBSPOT_TOKEN_ENV} set, that value is used (headless machines, CI).",
    )
    connect.add_argument("--base-url", type=_base_url_arg, metavar="URL",
                         help="API root (default: [hubspot] api_base_url from the config)")
    connect.add_argument("--no-check", action="store_true", help="store without asking HubSpot")
    connect.add_argument("--json", action="store_true", help="print the check as JSON")
    connect.set_defaults(func=cmd_connect)

    disconnect = hub_sub.add_parser("disconnect", help="forget the access token (queued calls are kept)")
    disconnect.set_defaults(func=cmd_disconnect)

    outbox = hub_sub.add_parser("outbox", help="calls waiting to be logged in HubSpot, and why")
    outbox.add_argument("--json", action="store_true")
    outbox.set_defaults(func=cmd_outbox)

    set_key = hub_sub.add_parser(
        "set-key", help="store the developer API key in the keyring (read from stdin)",
        description="Store the HubSpot developer account API key in the OS keyring (service 'softphone', "
                    "key 'hubspot:developer-api-key'). The key is read from stdin, or prompted for without "
                    "echo on a terminal; it is never accepted on the command line.",
    )
    set_key.set_defaults(func=cmd_set_key)

    settings = hub_sub.add_parser(
        "settings", help="create/get/update/delete the app's calling settings",
        description="Manage the calling settings of your HubSpot app "
                    "(POST/GET/PATCH/DELETE /crm/v3/extensions/calling/{appId}/settings, authenticated with "
                    "the developer API key stored by `softphone hubspot set-key`).",
    )
    actions = settings.add_subparsers(dest="settings_action", metavar="ACTION", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--app-id", required=True, type=_app_id_arg, metavar="ID",
                        help="the app's ID (digits) from your HubSpot developer account")
    common.add_argument("--dry-run", action="store_true",
                        help="print the request (method, URL with the key redacted, JSON body); send nothing")
    common.add_argument("--base-url", default=DEFAULT_BASE_URL, type=_base_url_arg, metavar="URL",
                        help=f"API root (default {DEFAULT_BASE_URL}); plain http only to loopback")

    create = actions.add_parser(
        "create", parents=[common], help="create the calling settings (POST)",
        description="Create the app's calling settings. isReady is sent as false unless --ready is given: "
                    "HubSpot's docs say to keep it false while testing and PATCH it to true for production.",
    )
    _add_fields(create, creating=True)
    create.set_defaults(func=cmd_settings)

    get = actions.add_parser("get", parents=[common], help="show the calling settings (GET)")
    get.set_defaults(func=cmd_settings)

    update = actions.add_parser(
        "update", parents=[common], help="change some calling settings (PATCH)",
        description="Change only the given fields, e.g. `--ready` to put the app in production.",
    )
    _add_fields(update, creating=False)
    update.set_defaults(func=cmd_settings)

    delete = actions.add_parser(
        "delete", parents=[common], help="delete the calling settings (DELETE)",
        description="Delete the app's calling settings: the calling option disappears for every connected "
                    "HubSpot account.",
    )
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=cmd_settings)


def _add_fields(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    title = "settings fields" + ("" if creating else " (only the given ones change)")
    fields = parser.add_argument_group(title)
    fields.add_argument("--name", required=creating, type=_name_arg,
                        help="name of the calling option shown to HubSpot users")
    fields.add_argument("--url", required=creating, type=_url_arg,
                        help="https:// URL of the widget HubSpot loads in its iframe")
    fields.add_argument("--width", type=_width_arg, metavar="PX",
                        default=CREATE_DEFAULT_WIDTH if creating else None,
                        help=f"iframe width in pixels, 1..{INT32_MAX}"
                             + (f" (default {CREATE_DEFAULT_WIDTH})" if creating else ""))
    fields.add_argument("--height", type=_height_arg, metavar="PX",
                        default=CREATE_DEFAULT_HEIGHT if creating else None,
                        help=f"iframe height in pixels, 1..{INT32_MAX}"
                             + (f" (default {CREATE_DEFAULT_HEIGHT})" if creating else ""))
    bool_action = argparse.BooleanOptionalAction
    fields.add_argument("--ready", dest="is_ready", action=bool_action,
                        default=False if creating else None,
                        help="isReady: show the app to users of connected accounts"
                             + (" (default: not ready)" if creating else ""))
    fields.add_argument("--supports-custom-objects", action=bool_action, default=None,
                        help="supportsCustomObjects: calls can be placed from custom object records")
    fields.add_argument("--supports-inbound-calling", action=bool_action, default=None,
                        help="supportsInboundCalling: the app receives incoming calls in HubSpot")
    fields.add_argument("--uses-calling-window", action=bool_action, default=None,
                        help="usesCallingWindow: hold calls in HubSpot's detached calling window")
    fields.add_argument("--uses-remote", action=bool_action, default=None,
                        help="usesRemote: anchor the app to HubSpot's calling remote")


# ----------------------------------------------------------------------------------------- handlers


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _require_key() -> str:
    key = secrets.get_password(secrets.HUBSPOT_KEY)
    if not key:
        try:
            backend = secrets.backend_name()
        except Exception:  # the keyring may be entirely unusable; the hint below still applies
            backend = "unavailable"
        raise SecretError(
            f"No HubSpot developer API key in the keyring (backend {backend}). Store it with:\n"
            "  softphone hubspot set-key     (paste the key, or pipe it in on stdin)"
        )
    return key


def _key_char_ok(char: str) -> bool:
    return char.isascii() and char.isprintable() and not char.isspace()


def cmd_set_key(args: argparse.Namespace) -> int:
    """Read the developer API key from stdin (no echo on a TTY) and store it in the keyring."""
    del args
    try:
        if sys.stdin is None:
            raise SecretError("No stdin to read the key from.")
        if sys.stdin.isatty():
            raw = getpass.getpass("HubSpot developer API key: ")
        else:
            raw = sys.stdin.read(MAX_KEY_LENGTH * 4 + 1)
        key = raw.strip()
        if not key:
            _error("No key given on stdin; nothing stored.")
            return EXIT_USAGE
        if len(key) > MAX_KEY_LENGTH or not all(_key_char_ok(c) for c in key):
            _error("That does not look like a single API key (expected one line of printable ASCII, "
                   "no spaces); nothing stored.")
            return EXIT_USAGE
        secrets.set_password(secrets.HUBSPOT_KEY, key)
    except SoftphoneError as exc:
        _error(exc.message)
        return EXIT_ERROR
    except (KeyboardInterrupt, EOFError):
        _error("Cancelled; nothing stored.")
        return EXIT_ERROR
    print(f"Stored the HubSpot developer API key in the keyring "
          f"(service '{secrets.SERVICE}', key '{secrets.HUBSPOT_KEY}').")
    return EXIT_OK


# ------------------------------------------------------------------------------- CRM: connect / outbox


def _read_token() -> str:
    env = os.environ.get(secrets.HUBSPOT_TOKEN_ENV, "").strip()
    if env:
        return env
    if sys.stdin is None:
        raise SecretError("No stdin to read the token from.")
    if sys.stdin.isatty():
        return getpass.getpass("HubSpot private-app access token: ").strip()
    return sys.stdin.read(MAX_KEY_LENGTH * 4 + 1).strip()


def _api_base_url(args: argparse.Namespace) -> str:
    if args.base_url:
        return str(args.base_url)
    from softphone import config

    return config.load().hubspot.api_base_url


def cmd_connect(args: argparse.Namespace) -> int:
    """Read, check and store the private-app access token."""
    try:
        token = _read_token()
        if not token:
            _error("No token given; nothing stored.")
            return EXIT_USAGE
        if len(token) > MAX_KEY_LENGTH or not all(_key_char_ok(c) for c in token):
            _error("That does not look like an access token (expected one line of printable ASCII, no spaces, "
                   "like pat-na1-…); nothing stored.")
            return EXIT_USAGE
        check: crm.ConnectionCheck | None = None
        if not args.no_check:
            base_url = _api_base_url(args)
            try:
                check = asyncio.run(crm.check_connection(token, base_url))
            except crm.CrmAuthError as exc:
                _error(f"{exc.message}\nNothing stored.")
                return EXIT_ERROR
            except crm.CrmError as exc:
                _error(f"{exc.message}\nNothing stored (use --no-check to store it without asking HubSpot).")
                return EXIT_ERROR
    except (KeyboardInterrupt, EOFError):
        _error("Cancelled; nothing stored.")
        return EXIT_ERROR
    except SoftphoneError as exc:
        _error(exc.message)
        return EXIT_ERROR
    from_env = bool(os.environ.get(secrets.HUBSPOT_TOKEN_ENV, "").strip())
    try:
        secrets.set_hubspot_token(token)
        where = f"the keyring (service '{secrets.SERVICE}', key '{secrets.HUBSPOT_TOKEN_KEY}')"
    except SecretError as exc:
        if not from_env:
            _error(exc.message)
            return EXIT_ERROR
        where = f"no keyring ({exc.message}); the engine reads {secrets.HUBSPOT_TOKEN_ENV}"
    if args.json:
        print(json.dumps({"stored": where, "check": check.to_json() if check else None}, indent=2))
    else:
        print(f"Stored the HubSpot access token in {where}.")
        if check is not None:
            print("\n".join(check.lines()))
    if check is not None and check.missing_required:
        print("warning: the token lacks " + ", ".join(check.missing_required) + ": add the scopes to the private "
              "app in HubSpot (Settings → Integrations → Private Apps), then connect again.", file=sys.stderr)
    return EXIT_OK


def cmd_disconnect(args: argparse.Namespace) -> int:
    del args
    try:
        removed = secrets.delete_hubspot_token()
    except SecretError as exc:
        _error(exc.message)
        return EXIT_ERROR
    print("Forgot the HubSpot access token." if removed else "No HubSpot access token was stored.")
    if os.environ.get(secrets.HUBSPOT_TOKEN_ENV, "").strip():
        print(f"note: {secrets.HUBSPOT_TOKEN_ENV} is set in this environment and still applies.", file=sys.stderr)
    print("Calls waiting in the outbox are kept (see `softphone hubspot outbox`).", file=sys.stderr)
    return EXIT_OK


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_outbox(args: argparse.Namespace) -> int:
    """List the calls waiting in the outbox (read straight from the database; the engine may be running)."""
    from softphone import config
    from softphone.storage.outbox import FILENAME, open_readonly

    box = open_readonly(config.data_dir() / FILENAME)
    items = box.pending() if box is not None else []
    counts = box.counts() if box is not None else {"pending": 0, "rejected": 0, "done": 0}
    if box is not None:
        box.close()
    now = time.time()
    rows = []
    for it in items:
        if it.error_kind == "rejected":
            why = f"refused by HubSpot: {it.error}"
        elif it.error:
            why = f"retrying: {it.error}"
        elif it.in_doubt_since is not None:
            why = "sent, answer not received: checking HubSpot before sending again"
        else:
            why = "queued"
        rows.append({"call_id": it.key, "remote": it.payload.get("remote", ""),
                     "direction": it.payload.get("direction", ""),
                     "action": "update" if it.remote_id is not None else "create",
                     "engagement_id": it.remote_id, "attempts": it.attempts,
                     "next_attempt_in_s": round(max(0.0, it.next_at - now), 1),
                     "queued_at": it.created_at, "why": why})
    if args.json:
        print(json.dumps({"pending": rows, "counts": counts}, indent=2))
        return EXIT_OK
    if not rows:
        print(f"Nothing waiting: every call is in HubSpot ({counts['done']} logged recently).")
        return EXIT_OK
    print(f"{len(rows)} call(s) waiting to be logged in HubSpot:")
    for r in rows:
        when = "now" if r["next_attempt_in_s"] <= 0 else f"in {_ago(r['next_attempt_in_s'])}"
        print(f"  {r['call_id']}  {r['direction']:<8} {r['remote']:<18} {r['action']}, {r['attempts']} attempt(s), "
              f"next {when}, queued {_ago(now - r['queued_at'])} ago\n      {r['why']}")
    return EXIT_OK


def doctor_checks(settings: Settings | None, data_dir: Path, *, timeout_s: float = 5.0) -> list[tuple[str, str]]:
    """What ``softphone doctor`` reports about the CRM connection, as (level, text); level is "ok", "warn" or
    "fail". Asks HubSpot (token info, account details) within ``timeout_s``; never raises."""
    from softphone.storage.outbox import FILENAME, open_readonly

    out: list[tuple[str, str]] = []
    hs = settings.hubspot if settings is not None else None
    wanted = hs is None or hs.log_calls or hs.lookup_callers
    try:
        token = secrets.get_hubspot_token()
        source = secrets.hubspot_token_source()
    except Exception as exc:  # an unusable keyring is reported by doctor itself
        token, source = None, None
        out.append(("warn", f"HubSpot token unreadable ({type(exc).__name__})"))
    if not token:
        out.append(("warn" if wanted else "ok",
                    "HubSpot CRM not connected: calls no HubSpot tab saw are not logged and callers get no names "
                    "(run `softphone hubspot connect`)" if wanted else "HubSpot CRM logging and caller lookup are off"))
    else:
        base_url = hs.api_base_url if hs is not None else crm.DEFAULT_BASE_URL
        try:
            check = asyncio.run(asyncio.wait_for(crm.check_connection(token, base_url), timeout_s))
        except crm.CrmRejected as exc:
            out.append(("fail", exc.message))
        except (crm.CrmError, asyncio.TimeoutError) as exc:
            why = exc.message if isinstance(exc, crm.CrmError) else f"no answer within {timeout_s:.0f} s"
            out.append(("warn", f"HubSpot unreachable ({why}); calls wait in the outbox until it answers"))
        else:
            out.append(("ok", f"HubSpot portal {check.portal_id} ({check.ui_domain}), token from {source}"))
            have = [s for s in (*crm.REQUIRED_SCOPES, *crm.RECOMMENDED_SCOPES) if s in check.scopes]
            if have:
                out.append(("ok", "HubSpot scopes present: " + ", ".join(have)))
            for scope in check.missing_required:
                out.append(("fail", f"HubSpot token lacks {scope} (needed to {crm.REQUIRED_SCOPES[scope]}): add "
                                    "it to the private app, then `softphone hubspot connect`"))
            for scope in check.missing_recommended:
                out.append(("warn", f"HubSpot token lacks {scope} (recommended, to "
                                    f"{crm.RECOMMENDED_SCOPES[scope]})"))
    box = open_readonly(data_dir / FILENAME)
    if box is not None:
        counts = box.counts()
        box.close()
        if counts["pending"]:
            out.append(("warn", f"{counts['pending']} call(s) waiting to be logged in HubSpot, {counts['rejected']} "
                                "refused (see `softphone hubspot outbox`)"))
        else:
            out.append(("ok", "HubSpot outbox empty: every call is logged"))
    return out


def _settings_input(args: argparse.Namespace) -> CallingSettingsInput:
    return CallingSettingsInput(
        name=args.name, url=args.url, width=args.width, height=args.height, is_ready=args.is_ready,
        supports_custom_objects=args.supports_custom_objects,
        supports_inbound_calling=args.supports_inbound_calling,
        uses_calling_window=args.uses_calling_window, uses_remote=args.uses_remote,
    )


def _confirm_delete(app_id: int) -> bool:
    if sys.stdin is None or not sys.stdin.isatty():
        raise InvalidSettings("Refusing to delete without confirmation: add --yes.")
    try:
        answer = input(f"Delete the calling settings of app {app_id}? HubSpot users of every connected "
                       "account lose this calling option. [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_settings(args: argparse.Namespace) -> int:
    """``hubspot settings create|get|update|delete``."""
    action: str = args.settings_action
    method = _METHODS[action]
    app_id: int = args.app_id
    try:
        body: dict[str, Any] | None = None
        if action == "create":
            body = _settings_input(args).create_body()
        elif action == "update":
            body = _settings_input(args).patch_body()
        if args.dry_run:
            with CallingSettingsClient(None, base_url=args.base_url) as client:
                print(describe_request(client.build_request(method, app_id, body)))
            print("(dry run: nothing was sent)", file=sys.stderr)
            return EXIT_OK
        if action == "delete" and not args.yes and not _confirm_delete(app_id):
            print("Not deleted.", file=sys.stderr)
            return EXIT_ERROR
        key = _require_key()
        with CallingSettingsClient(key, base_url=args.base_url) as client:
            result = client.send(client.build_request(method, app_id, body))
    except InvalidSettings as exc:
        _error(exc.message)
        return EXIT_USAGE
    except SoftphoneError as exc:
        _error(exc.message)
        return EXIT_ERROR
    if action == "delete":
        print(f"Deleted the calling settings of app {app_id}.")
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return EXIT_OK


# ------------------------------------------------------------------------------------- standalone


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hubspot`` tree on its own: ``python -m softphone.hubspot.cli hubspot settings get ...``."""
    parser = argparse.ArgumentParser(prog="softphone")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
