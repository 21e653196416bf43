"""The command line's voice: `say` (try a voice, to the speakers or a WAV file) and `respond --speak/--speak-to`
(the reply spoken as it streams, or written to a WAV file; stdout keeps carrying only the chunk dicts)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

IDLE_WAIT_S = 600.0  # the longest reply speaking may take after the text has all arrived


def add_voice_flags(parser: argparse.ArgumentParser, *, respond: bool) -> None:
    parser.add_argument(
        "--voice",
        metavar="KEY_OR_ONNX",
        help="Piper voice: a key such as en_US-ljspeech-medium (downloaded once) or the path of a voice's "
        ".onnx (its .onnx.json beside it); mistral:<voice_id> for Mistral's Voxtral TTS (its API key as for "
        "chat; a local voice stands in when it fails); default: speech.voice from the settings",
    )
    if respond:
        parser.add_argument("--speak", action="store_true", help="speak the reply as it streams")
        parser.add_argument(
            "--speak-to", metavar="OUT.wav", type=Path, help="write the spoken reply to a WAV file"
        )


def add_say_parser(sub: Any) -> None:
    say = sub.add_parser(
        "say",
        help="speak some text with a voice (to try voices)",
        description="Speak TEXT with the neural voice, on the speakers or into a WAV file.",
    )
    say.add_argument("text", metavar="TEXT")
    add_voice_flags(say, respond=False)
    say.add_argument("--out", metavar="F.wav", type=Path, help="write the speech to F.wav instead of playing it")


def _progress(fraction: float) -> None:
    print(f"\rdownloading the voice: {fraction:4.0%}", end="\n" if fraction >= 1.0 else "", file=sys.stderr)


def _language_progress(key: str, fraction: float) -> None:
    print(f"\rdownloading the voice {key}: {fraction:4.0%}", end="\n" if fraction >= 1.0 else "", file=sys.stderr)


def _missing_language(language: str, why: str) -> None:  # said once per language by the voice
    print(f"voxtral-desktop: {why}", file=sys.stderr)


def _switched(language: str, name: str) -> None:
    from voxtral_desktop.core.speech.languages import NAMES

    log.info("%s sentences: the voice %s", NAMES.get(language, language), name)


def load_voice(setting: str, cfg: Any = None) -> Any:
    """The voice ``setting`` names (downloading it once, progress on stderr); raises SpeechError.

    mistral:<voice_id>: Mistral's voice with ``cfg``'s speech.server_url; when it cannot speak a chunk an
    installed voice does, or the chunk is left unsaid; stderr says why, once. A Piper voice follows each
    sentence's language as the window's does (speech.follow_language, speech.language_voices)."""
    from voxtral_desktop.core.errors import VoiceUnavailableOffline
    from voxtral_desktop.core.speech import SpeechError, resolve_voice
    from voxtral_desktop.core.speech.mistral_tts import is_mistral_voice, open_voice
    from voxtral_desktop.core.speech.multilingual import follow_languages

    if is_mistral_voice(setting):
        if cfg is None:
            from voxtral_desktop.core.config import load_config

            cfg = load_config()
        return open_voice(setting, cfg, on_trouble=_TroubleOnce())
    try:
        voice = resolve_voice(setting, progress=_progress)
    except VoiceUnavailableOffline:
        raise  # its message names the voice and says what to do
    except SpeechError as e:
        raise SpeechError(f"no voice '{setting or 'default'}': {e}") from e
    speech = cfg.speech if cfg is not None else None
    if speech is not None and not speech.follow_language:
        return voice
    return follow_languages(
        voice,
        speech.language_voices if speech is not None else (),
        progress=_language_progress,
        on_missing=_missing_language,
        on_switch=_switched,
    )


class _TroubleOnce:
    """Says on stderr, once, why Mistral's voice did not speak and which voice did."""

    def __init__(self) -> None:
        self.said = False
        self.unsaid = False  # a chunk no voice said

    def __call__(self, trouble: Any) -> None:
        self.unsaid = self.unsaid or not trouble.local
        if self.said:
            return
        self.said = True
        instead = f"{trouble.local} speaks instead" if trouble.local else "no voice is installed here to stand in"
        print(f"voxtral-desktop: {trouble.why}; {instead}", file=sys.stderr)


def write_wav(path: Path, pieces: list[np.ndarray], rate: int) -> None:
    import soundfile as sf

    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), rate, format="WAV", subtype="PCM_16")


class ReplyVoice:
    """Speaks a streaming reply: ``say`` each chunk as it comes, ``finish`` when it is done.

    On the speakers (``speak``) each chunk goes to a SpeechPlayer at once, so speech starts while the model
    still generates; into a file (``out``) the chunks are synthesised in order and written at the end.
    """

    def __init__(self, voice: Any, *, speak: bool, out: Path | None, output_device: str = "") -> None:
        from voxtral_desktop.core.speech import SpeechPlayer

        self.voice = voice
        self.out = out
        self._texts: list[str] = []
        self.player = SpeechPlayer(voice, output_device) if speak else None

    def say(self, text: str) -> None:
        if not text.strip():
            return
        self._texts.append(text)
        if self.player is not None:
            self.player.say(text)

    def finish(self) -> None:
        """Wait for the speakers to finish; write the file."""
        try:
            if self.player is not None:
                self.player.end()
                self.player.wait_idle(IDLE_WAIT_S)
            if self.out is not None:
                pieces = [audio for text in self._texts for audio in self.voice.synthesize(text)]
                write_wav(self.out, pieces, self.voice.sample_rate)
        finally:
            self.close()

    def close(self) -> None:
        if self.player is not None:
            self.player.close()
            self.player = None


def open_reply_voice(args: argparse.Namespace, cfg: Any) -> ReplyVoice | None:
    """The voice `respond --speak/--speak-to` asks for, or None; raises SpeechError (told before the model
    loads, so a missing voice costs no model load)."""
    speak, out = bool(getattr(args, "speak", False)), getattr(args, "speak_to", None)
    if not speak and out is None:
        return None
    voice = load_voice(args.voice if args.voice is not None else cfg.speech.voice, cfg)
    return ReplyVoice(voice, speak=speak, out=out, output_device=cfg.speech.output_device)


def say(args: argparse.Namespace) -> int:
    from voxtral_desktop.core.config import ConfigError, load_config
    from voxtral_desktop.core.errors import SpeechError

    if not args.text.strip():
        print("voxtral-desktop: error: nothing to say (TEXT is empty)", file=sys.stderr)
        return 2
    try:
        cfg = load_config(getattr(args, "config", None))
        voice = load_voice(args.voice if args.voice is not None else cfg.speech.voice, cfg)
        reply = ReplyVoice(voice, speak=args.out is None, out=args.out, output_device=cfg.speech.output_device)
        reply.say(args.text)
        reply.finish()
        if getattr(getattr(voice, "on_trouble", None), "unsaid", False):  # told on stderr already
            if args.out is not None:
                args.out.unlink(missing_ok=True)
            return 1
    except (SpeechError, ConfigError) as e:
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"voxtral-desktop: error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0
