"""Command line: no sub-command opens the window; `respond` streams a reply to an audio file as JSON lines
(optionally spoken); `say` speaks text with a voice; `history` lists and exports conversations."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR_CHUNK, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl+C, as shells report a command ended by SIGINT
# How often `respond` looks at what the model is doing while no words have come, and how often it says so.
PROGRESS_POLL_S, PROGRESS_REPEAT_S = 1.0, 10.0


def _add_common(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    # On a sub-command the defaults are suppressed, or they would overwrite flags given before it.
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument(
        "--model",
        metavar="ID_OR_DIR",
        help="Hugging Face hub id or local model folder; with --backend openai, the server's model name",
        **kw,
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "local", "llamacpp", "openai", "mistral"),
        help="run Voxtral here with transformers (local) or llama.cpp (llamacpp), let the machine decide (auto), "
        "stream from an OpenAI-compatible server (openai), or from Mistral's API (mistral: needs only "
        "MISTRAL_API_KEY)",
        **kw,
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="the server's API address, e.g. http://127.0.0.1:8000/v1 (implies --backend openai)",
        **kw,
    )
    parser.add_argument(
        "--config", metavar="FILE", type=Path, help="extra config file, applied after yours", **kw
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr", **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxtral-desktop",
        description="Push-to-talk voice assistant on Mistral's Voxtral. With no command, opens the window.",
    )
    from voxtral_desktop import __version__
    from voxtral_desktop.cli_voice import add_say_parser, add_voice_flags
    from voxtral_desktop.core.model import Mode

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--hands-free",
        action="store_true",
        help="open the window listening hands-free (overrides listening.mode for this run; not saved)",
    )
    parser.add_argument(
        "--hidden",
        action="store_true",
        help="start in the tray without showing the window (how the autostart entry starts it)",
    )
    _add_common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    respond = sub.add_parser(
        "respond",
        help="answer (or transcribe) an audio file, one JSON chunk per line",
        description="Stream the reply to AUDIO_FILE (WAV, FLAC or OGG) as JSON chunk dicts, one per line.",
    )
    respond.add_argument("audio_file", metavar="AUDIO_FILE", type=Path)
    respond.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.CONVERSATION.value)
    respond.add_argument(
        "--conversation",
        metavar="ID",
        help="continue the stored conversation ID (created if new): earlier turns are remembered, "
        "and this exchange is saved to the history",
    )
    add_voice_flags(respond, respond=True)
    respond.add_argument(
        "--timings",
        action="store_true",
        help="at the end, print where the time went (ms per stage since the audio was read) as one JSON "
        "object on stderr; stdout keeps only the chunk dicts",
    )
    _add_common(respond, sub=True)
    add_say_parser(sub)

    history = sub.add_parser("history", help="list or export stored conversations")
    hsub = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hsub.add_parser("list", help="one line per conversation: id, last change, turns, title")
    export = hsub.add_parser("export", help="print a conversation as Markdown or JSON")
    export.add_argument("conversation_id", metavar="ID")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    return parser


def flag_overrides(args: argparse.Namespace, configured_backend: str = "local") -> dict[str, Any]:
    """Settings the flags change; ``configured_backend`` is the one the config files chose."""
    out: dict[str, Any] = {}
    backend = getattr(args, "backend", None)
    base_url = getattr(args, "base_url", None)
    if base_url and backend is None:
        backend = "openai"  # a server address only makes sense for the remote back-end
    if backend:
        out["backend"] = backend
    if base_url:
        out.setdefault("remote", {})["base_url"] = base_url
    if getattr(args, "model", None):
        if (backend or configured_backend) == "openai":
            out.setdefault("remote", {})["model"] = args.model
        else:
            out.setdefault("model", {})["id"] = args.model
    return out


def _read_audio(path: Path) -> tuple[Any, int]:
    import soundfile as sf

    if not path.is_file():
        raise FileNotFoundError(f"audio file {path} does not exist")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise ValueError(f"cannot read {path} as audio (WAV, FLAC or OGG): {e}") from e
    return data, int(rate)


def _say_not_saved(error: Exception) -> Exception:
    from voxtral_desktop.core.errors import HistoryWriteError

    why = error.reason if isinstance(error, HistoryWriteError) else str(error)  # the line says "not saved" already
    print(f"voxtral-desktop: warning: this exchange is not saved in the history: {why}", file=sys.stderr)
    return error


async def _respond(
    model: Any,
    audio: Any,
    rate: int,
    mode: str,
    chunk_id: str,
    conversation: str | None,
    voice: Any = None,
    read_at: float | None = None,
) -> int:
    final_ok = False
    session = None
    unsaved: Exception | None = None  # why this exchange is not in the history, once said
    if conversation:
        from voxtral_desktop.core.conversation import ConversationSession
        from voxtral_desktop.core.errors import HistoryError
        from voxtral_desktop.core.history import HistoryStore

        try:
            store = HistoryStore()
        except HistoryError as e:  # e.g. a full disk: the reply still comes, remembered by nobody
            unsaved = _say_not_saved(e)
            store = HistoryStore(":memory:")
        session = ConversationSession(model, store, conversation)
        chunks = session.respond(audio, sample_rate=rate, mode=mode, chunk_id=chunk_id, recording_ended=read_at)
    else:
        from voxtral_desktop.core.timings import ReplyTimings

        store = None
        chunks = model.process_realtime_chunk_streaming(
            audio, chunk_id, mode=mode, sample_rate=rate, timings=ReplyTimings(read_at)
        )
    interrupted = _cancel_on_ctrl_c(model)
    progress = asyncio.ensure_future(_say_progress(model))
    try:
        async for chunk in chunks:
            sys.stdout.write(json.dumps(chunk) + "\n")
            sys.stdout.flush()
            final_ok = bool(chunk["success"]) if chunk["is_final"] else final_ok
            if voice is not None and chunk["success"] and chunk["text"]:
                voice.say(chunk["text"])  # spoken while the model goes on generating
            if unsaved is None and session is not None and session.save_error is not None:
                unsaved = _say_not_saved(session.save_error)  # said as it happens; the reply goes on
        if voice is not None:
            voice.finish()
        error = session.last.save_error if session is not None and session.last is not None else None
        if unsaved is None and error is not None:
            _say_not_saved(error)
    finally:
        progress.cancel()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        if store is not None:
            store.close()
        if voice is not None:
            voice.close()
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK if final_ok else EXIT_ERROR_CHUNK


def _cancel_on_ctrl_c(model: Any) -> asyncio.Event:
    """The first Ctrl+C cancels the reply: it ends with its `cancelled` chunk and `respond` exits 130; a second
    one interrupts at once. Returns the event that says it happened."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()

    def on_ctrl_c() -> None:
        interrupted.set()
        print("voxtral-desktop: interrupted, stopping the reply", file=sys.stderr, flush=True)
        model.cancel()
        loop.remove_signal_handler(signal.SIGINT)  # Python's own handler again: a second Ctrl+C raises

    try:
        loop.add_signal_handler(signal.SIGINT, on_ctrl_c)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread: as before
        pass
    return interrupted


async def _say_progress(model: Any) -> None:
    """On stderr, what a slow model is doing before its first words ("listening to your 2 s question...
    14 s"), once it has taken a second: when that changes, and every PROGRESS_REPEAT_S while it lasts."""
    said, said_at = None, 0.0
    while True:
        await asyncio.sleep(PROGRESS_POLL_S)
        now = model.progress()
        if now is None:
            continue
        if now.activity != said or time.monotonic() - said_at >= PROGRESS_REPEAT_S:
            print(f"voxtral-desktop: {now}", file=sys.stderr, flush=True)
            said, said_at = now.activity, time.monotonic()


def _quiet_history_logs() -> None:
    """`respond` says a history problem in one line of its own; the core's warnings would say it again."""
    for name in ("voxtral_desktop.core.history", "voxtral_desktop.core.conversation"):
        logging.getLogger(name).setLevel(logging.ERROR)


def respond(args: argparse.Namespace) -> int:
    from voxtral_desktop import ConfigError, ModelLoadError, VoxtralModel, load_config

    try:
        audio, rate = _read_audio(args.audio_file)
    except (FileNotFoundError, ValueError) as e:
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        cfg = load_config(args.config)
        cfg.update(flag_overrides(args, cfg.backend), source="command line")
    except ConfigError as e:
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    from voxtral_desktop.cli_voice import open_reply_voice
    from voxtral_desktop.core.errors import SpeechError

    try:
        voice = open_reply_voice(args, cfg)
    except SpeechError as e:
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return EXIT_ERROR_CHUNK
    model = VoxtralModel(cfg)
    try:
        model.initialize()
    except (ModelLoadError, KeyboardInterrupt) as e:
        if voice is not None:
            voice.close()
        if isinstance(e, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return EXIT_ERROR_CHUNK
    if model.load_notice:  # on a CPU: what this reply will cost, before it starts
        print(f"voxtral-desktop: {model.load_notice}", file=sys.stderr, flush=True)
    try:
        # The file stands in for a recording: its stage clock starts once the model is ready for it.
        read_at = time.perf_counter()
        code = asyncio.run(
            _respond(model, audio, rate, args.mode, args.audio_file.stem, args.conversation, voice, read_at)
        )
        if getattr(args, "timings", False) and model.last_timings is not None:
            print(model.last_timings.to_json(), file=sys.stderr, flush=True)
        return code
    finally:
        model.close()


def history(args: argparse.Namespace) -> int:
    from voxtral_desktop.core.history import HistoryError, HistoryStore

    try:
        store = HistoryStore()
    except HistoryError as e:  # e.g. no history yet and a full disk to make it on
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return EXIT_ERROR_CHUNK
    with store:
        if args.history_command == "list":
            for c in store.list_conversations():
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated_at))
                print(f"{c.id}\t{when}\t{c.turns} turns\t{c.title}")
            return EXIT_OK
        try:
            if args.output:
                store.export_to(args.conversation_id, args.format, args.output)
            else:
                print(store.export(args.conversation_id, args.format))
        except HistoryError as e:
            print(f"voxtral-desktop: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as e:
            print(f"voxtral-desktop: error: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status is returned, except when a generation step cannot be stopped."""
    return _leave(_main(argv))


def _leave(code: int) -> int:
    """The status to exit with, once no generation step still runs inside torch.

    A stopped generation leaves torch at its next layer and the model's close() waits for that. A step that
    never returns (a hung kernel) cannot be stopped or joined, and exiting the interpreter under it aborts
    the process ("terminate called without an active exception", SIGABRT): then, with everything flushed,
    the process ends at once with its status (os._exit), the only exit that does not unwind that thread.
    """
    local = sys.modules.get("voxtral_desktop.core.backends.local")
    if local is None or not local.generation_running():
        return code
    log.warning("a generation step is still running inside torch: exiting without waiting for it")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from voxtral_desktop.app import setup_logging

    setup_logging(verbose=args.verbose, to_file=args.command is None)
    if args.command == "respond":
        if not args.verbose:
            _quiet_history_logs()
        try:
            return respond(args)
        except KeyboardInterrupt:  # a second Ctrl+C while the first one's reply was winding down
            return EXIT_INTERRUPTED
    if args.command == "history":
        return history(args)
    if args.command == "say":
        from voxtral_desktop.cli_voice import say

        return say(args)
    from voxtral_desktop.app import run_gui

    return run_gui(model=args.model, config=args.config, hands_free=args.hands_free, hidden=args.hidden)
