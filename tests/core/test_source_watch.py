"""SourceWatch without a sound server: recording goes on unwatched, nothing fails (the PulseAudio test in
tests/ui/test_pulseaudio_e2e.py proves the watch itself on a real server)."""

from __future__ import annotations

import threading

from voxtral_desktop.core.source_watch import SourceWatch, default_source, routed_through_server, source_names
from voxtral_desktop.testing.missing import missing


def test_only_devices_routed_through_the_sound_server_are_watched():
    assert routed_through_server("default") and routed_through_server("pulse") and routed_through_server("PipeWire")
    assert not routed_through_server("USB Audio: hw:1,0")


def test_without_pactl_nothing_is_watched(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert SourceWatch.start(lambda name: None) is None
    assert default_source() is None and source_names() is None


def test_without_a_server_the_watch_ends_quietly_and_reports_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-such-socket'}")
    gone = threading.Event()
    watch = SourceWatch.start(lambda name: gone.set())
    if watch is None:
        missing("pactl is not installed (pulseaudio-utils)")
    watch.join(timeout=10)  # ends by itself: no server answers, so there is no source to watch
    assert watch.source is None and not gone.is_set()
    watch.stop()
