"""The stall watchdog (pure): when the call's devices are given up on, with the time passed in."""

from __future__ import annotations

from softphone.audio.watchdog import StallWatchdog


def opened(at: float = 100.0) -> StallWatchdog:
    w = StallWatchdog(stall_s=1.0, first_s=4.0, rescue_gap_s=5.0)
    w.opened(at)
    return w


def test_streams_that_keep_moving_are_left_alone() -> None:
    w = opened()
    for i in range(1, 40):
        assert not w.check(100.0 + i * 0.5, 25 * i, 25 * i, has_input=True)


def test_a_stream_that_stops_is_given_up_after_the_stall_time() -> None:
    w = opened()
    assert not w.check(100.5, 25, 25, has_input=True)
    assert not w.check(101.0, 50, 50, has_input=True)
    # the speaker stops; the microphone goes on: the time of the last full move is kept
    assert not w.check(101.5, 75, 50, has_input=True)
    assert not w.check(102.0, 100, 50, has_input=True)
    assert w.check(102.5, 125, 50, has_input=True)


def test_a_stream_that_never_starts_gets_the_longer_first_time() -> None:
    w = opened()
    assert not w.check(101.5, 0, 10, has_input=True)      # input silent, but not for first_s yet
    assert not w.check(103.9, 0, 20, has_input=True)
    assert w.check(104.1, 0, 30, has_input=True)


def test_playback_only_needs_only_the_output_to_move() -> None:
    w = opened()
    for i in range(1, 20):
        assert not w.check(100.0 + i * 0.5, 0, 25 * i, has_input=False)


def test_a_dead_stream_is_given_up_even_within_the_stall_time() -> None:
    w = opened()
    assert not w.check(100.5, 25, 25, has_input=True)
    assert w.check(100.7, 25, 25, has_input=True, healthy=False)


def test_output_that_is_fed_but_not_taken_counts_as_stalled() -> None:
    w = opened()
    assert not w.check(100.5, 25, 25, has_input=True)
    # the pushing side keeps counting frames, but the device stopped taking them
    assert not w.check(101.0, 50, 50, has_input=True, out_stuck=True)
    assert not w.check(101.5, 75, 75, has_input=True, out_stuck=True)
    assert w.check(101.6, 80, 80, has_input=True, out_stuck=True)


def test_rescues_are_spaced_so_a_broken_default_does_not_loop() -> None:
    w = opened()
    assert w.check(105.0, 0, 0, has_input=True)
    w.opened(105.0)                                          # reopened on the default, which is broken too
    assert not w.check(109.5, 0, 0, has_input=True)          # past first_s, but within the rescue gap
    assert w.check(110.5, 0, 0, has_input=True)
