"""Starts, watches and stops the llama.cpp engine process (llamacpp_engine.py); its life is tied to the app's."""

from __future__ import annotations

import atexit
import collections
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voxtral_desktop.core.backends import llamacpp_engine as engine
from voxtral_desktop.core.errors import ModelLoadError

log = logging.getLogger(__name__)

STOP_GRACE_S = 3.0  # after stdin closes (and again after SIGTERM) before the next, harder step
_STDERR_LINES = 40  # the engine's last log lines, kept for an error's details


@dataclass(frozen=True)
class EngineSpec:
    """What the engine runs: the GGUF pair, its context and threads, and which server (empty: embedded)."""

    model: Path
    mmproj: Path
    ctx: int = 8192
    threads: int = 0  # 0: llama.cpp's own choice
    server: str = ""  # a llama-server binary; empty runs the xllamacpp wheel's embedded server


def engine_command(spec: EngineSpec) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start the engine (the bundle re-runs its own executable)."""
    args = [
        "--model", str(spec.model), "--mmproj", str(spec.mmproj), "--ctx", str(spec.ctx),
        "--threads", str(spec.threads), "--parent-pid", str(os.getpid()),
    ]
    if spec.server:
        args += ["--exec", spec.server]
    env = dict(os.environ)
    if getattr(sys, "frozen", False):
        env[engine.ENGINE_ENV] = "1"  # packaging/launcher.py runs the engine instead of the app
        return [sys.executable, *args], env
    return [sys.executable, "-m", engine.__name__, *args], env


def describe_exit(code: int | None) -> str:
    """A person's words for how the engine ended: "exited with status 3", "was killed (SIGKILL)"."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed ({name})"
    return f"exited with status {code}"


class EngineProcess:
    """One engine process: start() blocks until it listens (or fails); stop() ends it and waits."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def stopping(self) -> bool:
        """Whether stop() ended it (a quit or a reload), rather than a crash."""
        return self._stopping

    def cpu_seconds(self) -> float | None:
        """CPU time the engine has used (Linux: /proc), or None where that cannot be read."""
        pid = self.pid
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def log_tail(self, lines: int = 8) -> str:
        return "\n".join(list(self._stderr)[-lines:])

    def last_error(self) -> str:
        """The engine's last error line (llama.cpp's level E, an assertion, a fatal error), or ""."""
        for line in reversed(self._stderr):
            words = line.split(maxsplit=2)
            if (len(words) > 1 and words[1] == "E") or any(k in line for k in ("GGML_ASSERT", "error", "abort")):
                return line.strip()
        return ""

    def start(self, timeout_s: float, waiting: Callable[[float], None] | None = None) -> str:
        """Start the engine and wait for its handshake; its base URL. ModelLoadError when it cannot serve."""
        handshake: queue.Queue[str | BaseException] = queue.Queue()
        # Started from a thread that lives exactly as long as the engine: Linux's parent-death signal follows
        # the thread that forked, so a short-lived loading thread would take the engine down with it.
        threading.Thread(target=self._supervise, args=(handshake,), name="llamacpp-engine", daemon=True).start()
        started = time.monotonic()
        while True:
            try:
                line = handshake.get(timeout=0.25)
                break
            except queue.Empty:
                elapsed = time.monotonic() - started
                if waiting is not None:
                    waiting(elapsed)
                if elapsed > timeout_s:
                    self.stop()
                    raise ModelLoadError(
                        f"the llama.cpp engine did not finish loading the model in {timeout_s:.0f} s"
                    ) from None
        if isinstance(line, BaseException):
            raise ModelLoadError(f"the llama.cpp engine could not be started: {line}") from line
        word, _, rest = line.partition(" ")
        if word == engine.LISTENING and rest.startswith("http"):
            self.url = rest.strip()
            log.info("llama.cpp engine (pid %s) serving %s at %s", self.pid, self.spec.model.name, self.url)
            return self.url
        self.stop()
        reason = rest.strip() if word == engine.FAILED else f"the engine {describe_exit(self.exit_code)}"
        tail = self.log_tail(3)
        raise ModelLoadError(
            f"the llama.cpp engine could not load {self.spec.model.name}: {reason}" + (f" ({tail})" if tail else "")
        )

    def _supervise(self, handshake: queue.Queue[str | BaseException]) -> None:
        command, env = engine_command(self.spec)
        try:
            proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
        except OSError as e:
            handshake.put(e)
            return
        self._proc = proc
        _LIVE.add(self)
        threading.Thread(target=self._drain_stderr, args=(proc,), name="llamacpp-engine-log", daemon=True).start()
        assert proc.stdout is not None
        first = proc.stdout.readline().decode("utf-8", "replace").strip()
        handshake.put(first or f"{engine.FAILED} the engine {describe_exit(proc.wait())}")
        proc.stdout.read()  # nothing more is written; returns when the engine ends
        proc.stdout.close()
        code = proc.wait()
        if not self._stopping:
            log.warning("the llama.cpp engine %s; last lines: %s", describe_exit(code), self.log_tail(4))

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        # Always read it: a full pipe would block the engine mid-reply.
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr.append(line)
                log.debug("engine: %s", line)
        proc.stderr.close()

    def stop(self) -> None:
        """End the engine: close its stdin (it exits on its own), then SIGTERM, then SIGKILL; wait for it."""
        proc = self._proc
        self._stopping = True
        if proc is None:
            return
        _LIVE.discard(self)
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            for step in (None, proc.terminate, proc.kill):
                if step is not None:
                    step()
                try:
                    proc.wait(STOP_GRACE_S)
                    break
                except subprocess.TimeoutExpired:
                    continue
        log.info("llama.cpp engine (pid %s) %s", proc.pid, describe_exit(proc.poll()))


_LIVE: weakref.WeakSet[EngineProcess] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """An app that exits without closing its back-end still takes its engines along."""
    for process in list(_LIVE):
        process.stop()
