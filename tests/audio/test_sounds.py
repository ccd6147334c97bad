"""The local-sounds mixer (pure): what the call device and the ringer play besides the call itself."""

from __future__ import annotations

import numpy as np

from softphone.audio.sounds import LocalSounds
from softphone.audio.tones import Sound, Wanted
from tests.audio.harness import dominant_freq

FRAME = 320


def test_want_reports_only_changes() -> None:
    s = LocalSounds()
    assert not s.want(Wanted())
    assert s.want(Wanted(ringer=True))
    assert s.ringing and s.call is None
    assert not s.want(Wanted(ringer=True))
    assert s.want(Wanted(call_sound=Sound.CALL_WAITING))
    assert not s.ringing and s.call is not None
    assert s.need_call_device
    assert s.want(Wanted())
    assert not s.need_call_device


def test_a_sound_that_keeps_playing_is_not_restarted() -> None:
    s = LocalSounds()
    s.want(Wanted(call_sound=Sound.RINGBACK))
    src = s.call
    s.mix(np.zeros(FRAME, np.int16), FRAME)
    s.want(Wanted(ringer=True, call_sound=Sound.RINGBACK))
    assert s.call is src and src is not None and src.pos == FRAME


def test_mix_adds_to_the_call_and_clips() -> None:
    s = LocalSounds()
    x = np.full(FRAME, 1000, np.int16)
    s.mix(x, FRAME)
    assert (x == 1000).all()                      # nothing to play: untouched
    s.want(Wanted(call_sound=Sound.RINGBACK))
    x = np.full(FRAME, 32000, np.int16)
    s.mix(x, FRAME)
    assert x.max() == 32767 and x.min() > 0       # added on top of the call, clipped instead of wrapping


def test_keypad_tones_play_one_after_the_other_then_stop() -> None:
    s = LocalSounds()
    s.add_dtmf("1x#")                              # 'x' is not a digit: ignored
    assert len(s.oneshots) == 2 and s.need_call_device
    out = []
    for _ in range(40):                            # 0.8 s: both tones (160 ms each) and then silence
        x = np.zeros(FRAME, np.int16)
        s.mix(x, FRAME)
        out.append(x)
    pcm = np.concatenate(out)
    spec = np.abs(np.fft.rfft(pcm[:1600].astype(float)))
    f = np.fft.rfftfreq(1600, 1 / 16000)
    assert abs(f[int(np.argmax(spec))] - 1209) < 20 or abs(f[int(np.argmax(spec))] - 697) < 20   # '1'
    assert not s.oneshots and not s.need_call_device
    assert not pcm[-FRAME:].any()


def test_ringer_plays_the_ringtone_and_silence_otherwise() -> None:
    s = LocalSounds()
    x = np.ones(FRAME, np.int16)
    s.fill_ringer(x, FRAME)
    assert not x.any()
    s.want(Wanted(ringer=True))
    x = np.zeros(16000, np.int16)
    s.fill_ringer(x, len(x))
    assert abs(dominant_freq(x) - 1046.5) < 20 or abs(dominant_freq(x) - 1318.5) < 20
