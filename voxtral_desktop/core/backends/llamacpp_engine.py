"""The llama.cpp engine process: serves a GGUF Voxtral over loopback HTTP until its parent goes away."""

# Run by core/backends/llamacpp_process.py as `python -m voxtral_desktop.core.backends.llamacpp_engine ...`
# (in the bundle: the app's own executable with VOXTRAL_LLAMACPP_ENGINE=1). Two kinds of engine, one HTTP API:
# the xllamacpp wheel's embedded llama.cpp server (default), or a llama-server binary (--exec), which then runs
# as this process's own child. Whatever happens to the app, no engine outlives it:
#   - Linux: PR_SET_PDEATHSIG makes the kernel send SIGKILL when the parent dies (even by SIGKILL);
#   - everywhere: stdin is a pipe from the parent; its end-of-file (the parent exited or closed it) ends us.
# The first line on stdout is the handshake: "LISTENING http://127.0.0.1:<port>" once the model is loaded,
# or "FAILED <reason>".

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

LISTENING = "LISTENING"
FAILED = "FAILED"
ENGINE_ENV = "VOXTRAL_LLAMACPP_ENGINE"  # set for the bundle's executable: run this module, not the app
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere the stdin watch does it)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: the stdin watch remains
        pass


def _watch_parent(parent_pid: int, on_gone: callable) -> None:  # type: ignore[valid-type]
    """Block until stdin closes (the parent is gone or let go of us), then call ``on_gone``."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    on_gone()


def _exit_now(child: subprocess.Popen[bytes] | None = None) -> None:
    if child is not None and child.poll() is None:
        child.kill()
    os._exit(0)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_embedded(args: argparse.Namespace) -> int:
    """llama.cpp's server inside this process, from the xllamacpp wheel."""
    try:
        import xllamacpp as xlc
    except ImportError as e:
        _say(f"{FAILED} the xllamacpp package is not installed ({e})")
        return 3
    params = xlc.CommonParams()
    params.model.path = args.model
    params.mmproj.path = args.mmproj
    params.n_ctx = args.ctx
    params.n_parallel = 1  # one conversation at a time: its prompt cache stays in the one slot
    params.hostnames = [args.host]
    params.port = args.port  # 0: the system picks a free port, read back below
    params.use_jinja = True
    params.endpoint_slots = True  # /slots: tests (and a curious user) can see whether it is computing
    if args.threads > 0:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads
    try:
        server = xlc.Server(params)  # blocks while the model loads
    except Exception as e:  # noqa: BLE001 - whatever the native side raised is the reason to hand back
        _say(f"{FAILED} {type(e).__name__}: {e}")
        return 4
    _say(f"{LISTENING} {server.listening_address}")
    while True:  # the server runs in its own native threads; the stdin watch ends the process
        time.sleep(3600)


def run_binary(args: argparse.Namespace) -> int:
    """A llama-server binary the user has, as this process's child (it dies with us: PDEATHSIG again)."""
    import socket
    import urllib.request

    port = args.port
    if port == 0:
        with socket.socket() as s:  # the binary needs a number; a free one, for the moment it takes to start
            s.bind((args.host, 0))
            port = s.getsockname()[1]
    command = [
        args.exec, "-m", args.model, "--mmproj", args.mmproj, "--host", args.host, "--port", str(port),
        "-c", str(args.ctx), "--parallel", "1", "--jinja", "--slots",
    ]
    if args.threads > 0:
        command += ["-t", str(args.threads)]
    try:
        # preexec_fn is safe here: this process has no other thread yet (the watch starts below).
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sys.stderr, preexec_fn=die_with_parent  # noqa: PLW1509
        )
    except OSError as e:
        _say(f"{FAILED} cannot start {args.exec}: {e.strerror or e}")
        return 5
    threading.Thread(target=_watch_parent, args=(args.parent_pid, lambda: _exit_now(child)), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: _exit_now(child))  # the app's close(): take the binary along
    url = f"http://{args.host}:{port}"
    while child.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    _say(f"{LISTENING} {url}")
                    return child.wait()
        except OSError:  # 503 while loading, or not listening yet
            pass
        time.sleep(0.2)
    _say(f"{FAILED} {args.exec} exited with status {child.returncode}")
    return 6


def main(argv: Sequence[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(prog="llamacpp_engine", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--mmproj", required=True)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument("--exec", default="", help="a llama-server binary to run instead of the embedded one")
    args = parser.parse_args(argv)
    if args.parent_pid and os.getppid() != args.parent_pid:
        return 0  # the parent died before the kernel was told to tie us to it
    if args.exec:
        return run_binary(args)
    threading.Thread(target=_watch_parent, args=(args.parent_pid, _exit_now), daemon=True).start()
    return run_embedded(args)


if __name__ == "__main__":
    raise SystemExit(main())
