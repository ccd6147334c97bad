"""Real call audio: the pjsua2 ⇄ sounddevice bridge and the device tools around it.

What the lead wires (nothing here imports the app; callbacks are plain callables):

``SoundDeviceMedia(config: AudioConfig, data_dir: Path, *, on_notice=None, on_devices=None)``
    ``softphone.audio.bridge``. Implements ``softphone.sip.media.MediaBridge`` (extras included); pass it as
    ``SipEngine(..., media=...)``. ``on_notice(level, message)`` and ``on_devices(list[Device])`` are called
    from the ``audio-devices`` thread: marshal with ``engine.call_soon_threadsafe``.
    Extras (thread-safe unless noted):

    * ``sync_calls(states)``: give it the ``CallState`` of every call after each ``CallUpdated``; it plays
      the ringtone on the ringer device (inbound, no other call), the call-waiting beep (inbound while in a
      call) or local ringback (outbound RINGING without early media), and stops them.
    * ``play_dtmf(digits)``: keypad feedback tones on the call device.
    * ``set_recording(call_id, on) -> path | None`` (pjsua2 thread): stereo WAV, rep left / caller right,
      under ``data_dir/recordings``; ``[audio] record_calls`` starts it for every call.
    * ``record_quality(call_id, pj_call, med_idx) -> dict`` (pjsua2 thread, while the stream exists, e.g.
      from ``Call.onStreamDestroyed``): codec, loss %, jitter, RTT, E-model MOS; kept for ``stats``.
    * ``stats(call_id)``: device names, processing, underruns/overflows, drift, bridge latency per
      direction, mic level, recording path, quality.
    * ``reconfigure(config)``: new device choice from settings (reopens streams on the fly).
    * ``devices()``: the current device list (same shape as ``list_devices``); ``bridge_stats()``: the
      device-side figures without a call.

Settings page and ``softphone doctor`` (``softphone.audio.settings``, blocking: run in a worker thread):
    ``device_report() -> dict``, ``LevelMeter(input_device)`` (``.level_dbfs``, ``.peak_dbfs``, ``.close()``),
    ``play_test_tone(output_device)``, ``echo_test(input_device, output_device, seconds) -> dict``.

How the bridge is put together (``bridge`` wires these; each is usable and tested on its own):

* ``callio``: the ``CallIO`` interface between the bridge and the devices, and ``Tuning``; ``pulse_io``
  (libpulse streams driven by pjmedia's clock thread, over ``pulse``) and ``portaudio_io`` (PortAudio
  callbacks and rings) implement it; the bridge picks one when it starts.
* ``frames``: the two pjsua2 ports and zero-copy access to their frames; ``threadpin``: keeps a foreign
  thread's Python state between callbacks (pjmedia's clock thread, libpulse's mainloop).
* ``sounds``: the local-sounds mixer (ringtone, ringback, call waiting, keypad tones).
* pure, with unit tests: ``watchdog`` (when to give up on a silent device), ``ring`` (drift-tolerant ring
  buffer), ``steer`` (pushed playback queue), ``tones`` (sounds and which to play), ``quality`` (E-model MOS).
* ``devices`` lists/matches devices by name, opens PortAudio streams and follows the sound server's device
  events; ``processing`` wraps WebRTC AEC3/NS (``pywebrtc-audio``, optional).

Speed and latency: ``bench/audio_call_cpu.py`` (vs baresip) and ``bench/audio_long_call.py`` (underruns over
a 10-minute call).
"""

from softphone.audio.devices import Device, find, list_devices

__all__ = ["Device", "find", "list_devices"]
