"""The command registry: one declaration per command, surfaces enforced, arguments validated strictly."""

from __future__ import annotations

import pytest

from softphone import commands
from softphone.commands import REGISTRY, BadArguments, NotAllowed, UnknownCommand, lookup

WIDGET_MAY = {"dial", "answer", "decline", "hangup", "hold", "resume", "swap", "mute", "unmute", "toggle_mute",
              "dtmf", "set_available", "set_outcome"}


def test_widget_reaches_only_what_hubspot_needs() -> None:
    assert set(commands.allowed("widget")) == WIDGET_MAY
    for name in ("account_save", "account_remove", "set_password", "settings_save", "settings_get", "history",
                 "transfer", "status", "audio_test", "demo_call_me"):
        with pytest.raises(NotAllowed):
            lookup(name, "widget")


def test_window_speaks_through_the_control_api() -> None:
    # the window's page reaches the engine over the control API: nothing may be window-only
    assert set(commands.allowed("window")) <= set(commands.allowed("ctl"))
    assert set(commands.allowed("headset")) <= set(commands.allowed("ctl"))


def test_unknown_command() -> None:
    with pytest.raises(UnknownCommand):
        lookup("shutdown", "ctl")
    with pytest.raises(UnknownCommand):
        lookup(None, "ctl")


@pytest.mark.parametrize(("name", "args"), [
    ("mute", {"muted": "false"}),                          # a string is not a boolean
    ("mute", {"muted": 0}),
    ("hangup", {"call_id": "9" * 5000}),                   # absurd id
    ("hangup", {"call_id": "a b"}),
    ("hangup", {"nonsense": 1}),                           # unknown key
    ("history", {"limit": 0}),                             # below 1
    ("history", {"limit": True}),
    ("history", {"limit": 1.5}),
    ("dtmf", {}),                                          # required
    ("set_available", {"available": "yes"}),
    ("account_save", {"account": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}}}),
    ("account_save", {"account": {"x": float("inf")}}),    # what 1e400 parses to
    ("set_outcome", {"call_id": "c1", "disposition": "x\r\nEvil: 1"}),
])
def test_bad_arguments_are_refused(name: str, args: dict) -> None:
    with pytest.raises(BadArguments):
        REGISTRY[name].validate(args)


def test_good_arguments_pass_through() -> None:
    assert REGISTRY["mute"].validate({"muted": False, "call_id": "3f2a-11"}) == {"muted": False, "call_id": "3f2a-11"}
    assert REGISTRY["set_outcome"].validate({"call_id": "c1", "notes": "line one\nline two"})["notes"].count("\n") == 1
    # numbers are judged by the dialler (its message names what is wrong), not rejected here
    assert REGISTRY["dial"].validate({"number": "sip:x@y\r\nX-Evil: 1"})["number"].startswith("sip:")


def test_every_command_documented() -> None:
    for cmd in REGISTRY.values():
        assert cmd.help, cmd.name
