"""Notices the recording's microphone leaving the sound server (PulseAudio, or PipeWire's pulse server).

When a source goes away the server quietly moves every recording from it to its fallback source (often a
monitor of the speakers), so PortAudio reports nothing and the recording would go on from the wrong device.
SourceWatch runs ``pactl subscribe`` in a thread and reports when the source that was the default when the
recording began is gone. Without pactl or a pulse server it watches nothing (PortAudio's own errors remain).
Never imports Qt.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# PortAudio's ALSA devices that are routed through the sound server's default source.
SERVER_ROUTED = ("default", "pulse", "pipewire")
_TIMEOUT_S = 3.0


def routed_through_server(device_name: str) -> bool:
    """Whether PortAudio's device records whatever the sound server's default source is."""
    return device_name.strip().lower() in SERVER_ROUTED


def _pactl(*args: str) -> str | None:
    """pactl's output in the C locale (its labels are translated otherwise), or None when it cannot answer."""
    try:
        done = subprocess.run(
            ["pactl", *args],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        log.debug("pactl %s failed: %s", " ".join(args), e)
        return None
    return done.stdout if done.returncode == 0 else None


def default_source() -> str | None:
    """The sound server's default source name, or None without pactl or a server."""
    info = _pactl("info")
    for line in (info or "").splitlines():
        if line.startswith("Default Source:"):
            return line.split(":", 1)[1].strip() or None
    return None


def source_names() -> set[str] | None:
    """The names of the sources the server has now, or None when it cannot be asked."""
    listing = _pactl("list", "short", "sources")
    if listing is None:
        return None
    return {cols[1] for cols in (line.split("\t") for line in listing.splitlines()) if len(cols) > 1}


class SourceWatch:
    """Calls ``on_gone(source_name)`` once, from its own thread, if the default source at start() goes away."""

    def __init__(self, on_gone: Callable[[str], None]) -> None:
        self._on_gone = on_gone
        self._stopped = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self.source: str | None = None
        self._thread = threading.Thread(target=self._run, name="source-watch", daemon=True)

    @classmethod
    def start(cls, on_gone: Callable[[str], None]) -> SourceWatch | None:
        """A running watch, or None when there is no pactl (nothing to watch with)."""
        if shutil.which("pactl") is None:
            log.debug("no pactl: a microphone that goes away is noticed only if PortAudio reports it")
            return None
        watch = cls(on_gone)
        watch._thread.start()  # the server is asked off the caller's thread: start() never blocks
        return watch

    def join(self, timeout: float | None = None) -> None:
        """Wait for the watching thread to end (after stop(), or when there is nothing to watch)."""
        self._thread.join(timeout)

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def _gone(self) -> bool:
        names = source_names()
        return names is not None and self.source is not None and self.source not in names

    def _run(self) -> None:
        self.source = default_source()
        if self.source is None or self._stopped.is_set():
            log.debug("no pulse server answers: not watching the microphone")
            return
        try:
            proc = subprocess.Popen(
                ["pactl", "subscribe"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except OSError as e:
            log.debug("pactl subscribe failed: %s", e)
            return
        with self._lock:
            if self._stopped.is_set():
                proc.terminate()
                return
            self._proc = proc
        log.debug("watching the source %r while recording", self.source)
        # It may have gone between asking for the default and subscribing.
        if self._gone():
            self._report()
            return
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if self._stopped.is_set():
                    break
                # "Event 'remove' on source #12" (not source-output: that is a recording ending)
                if "'remove' on source #" in line and self._gone():
                    self._report()
                    break
        except (OSError, ValueError):  # stop() closed the pipe under us: the recording is over
            pass
        self.stop()

    def _report(self) -> None:
        if self._stopped.is_set() or self.source is None:
            return
        log.warning("the microphone (sound server source %r) went away while recording", self.source)
        self._on_gone(self.source)
