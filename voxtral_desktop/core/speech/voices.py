"""The Voice interface (text -> streamed audio) and PiperVoice, a Piper ONNX voice run with onnxruntime."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.speech.phonemes import EspeakPhonemizer

log = logging.getLogger(__name__)

# Piper's phoneme-id framing: "^" opens, "$" closes, "_" pads after every phoneme.
_BOS, _EOS, _PAD = "^", "$", "_"
PEAK = 0.9  # each sentence's loudest sample


@runtime_checkable
class Voice(Protocol):
    """Turns text into audio, streaming: the first piece comes before the whole text is synthesised."""

    name: str
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield mono float32 audio in [-1, 1] at ``sample_rate``, one piece per sentence, in order."""
        ...


def config_path_for(model: Path) -> Path:
    """A Piper voice's settings file: `voice.onnx.json` beside `voice.onnx` (or `voice.json`)."""
    for candidate in (model.with_name(model.name + ".json"), model.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    raise SpeechError(f"voice {model} has no settings file beside it ({model.name}.json); download both files")


class PiperVoice:
    """A Piper voice: espeak-ng phonemes -> ids -> the VITS model in onnxruntime, sentence by sentence."""

    quick_first_piece = True  # its time grows with the text: the player cuts a reply's first chunk short

    def __init__(
        self, model: Path, config: dict[str, Any], *, name: str | None = None, resident_phonemizer: bool = True
    ) -> None:
        self.model_path = model
        self.name = name or model.name.removesuffix(".onnx")
        self.config = config
        try:
            self.sample_rate = int(config["audio"]["sample_rate"])
            self._id_map: dict[str, list[int]] = config["phoneme_id_map"]
            language = config.get("espeak", {}).get("voice", "en-us")
            inference = config.get("inference", {})
        except (KeyError, TypeError, ValueError) as e:
            raise SpeechError(f"voice settings for {model.name} are not a Piper voice's ({e})") from e
        if config.get("phoneme_type", "espeak") != "espeak":
            raise SpeechError(f"voice {self.name} uses {config['phoneme_type']} phonemes; only espeak ones work")
        self._scales = np.array(
            [inference.get("noise_scale", 0.667), inference.get("length_scale", 1.0), inference.get("noise_w", 0.8)],
            dtype=np.float32,
        )
        self._multi_speaker = int(config.get("num_speakers", 1)) > 1
        self.language = language  # espeak-ng's voice name, e.g. en-us, fr-fr
        self._phonemizer = EspeakPhonemizer(language, resident=resident_phonemizer)
        self._session = _onnx_session(model)
        # onnxruntime sessions are thread-safe, but one synthesis at a time keeps the two cores for the model.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str | Path, *, name: str | None = None, warm: bool = True) -> PiperVoice:
        """Open `voice.onnx` and its `voice.onnx.json`; SpeechError says what is missing or wrong."""
        model = Path(model)
        if not model.is_file():
            raise SpeechError(f"voice file {model} does not exist")
        settings = config_path_for(model)
        try:
            config = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SpeechError(f"cannot read voice settings {settings}: {e}") from e
        started = time.perf_counter()
        voice = cls(model, config, name=name)
        if warm:
            voice.warm()
        log.info("loaded voice %s in %.2f s", voice.name, time.perf_counter() - started)
        return voice

    def warm(self) -> None:
        """Say a word nobody hears: starts espeak-ng and pays onnxruntime's first-run cost (its first run
        allocates and plans; see benchmarks/voice.py) at load, not at the reply's first words."""
        for _ in self.synthesize("Hello."):
            pass

    def close(self) -> None:
        self._phonemizer.close()

    def phoneme_ids(self, phonemes: str) -> np.ndarray:
        ids = list(self._id_map[_BOS]) + list(self._id_map[_PAD])
        for phoneme in phonemes:
            mapped = self._id_map.get(phoneme)
            if mapped is None:
                log.debug("voice %s has no id for phoneme %r; skipped", self.name, phoneme)
                continue
            ids += mapped + self._id_map[_PAD]
        ids += self._id_map[_EOS]
        return np.array([ids], dtype=np.int64)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for sentence in self._phonemizer.sentences(text):
            yield self._run(self.phoneme_ids(sentence))

    def _run(self, ids: np.ndarray) -> np.ndarray:
        feeds = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": self._scales,
        }
        if self._multi_speaker:
            feeds["sid"] = np.array([0], dtype=np.int64)
        with self._lock:
            audio = self._session.run(None, feeds)[0]
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        # Piper's own player scales each sentence to full scale; a little headroom survives resampling.
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        return audio * (PEAK / peak) if peak > 1e-8 else np.zeros_like(audio)


def _onnx_session(model: Path) -> Any:
    try:
        import onnxruntime
    except ImportError as e:
        raise SpeechError("the neural voice needs onnxruntime (pip install onnxruntime)") from e
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warnings about unused initialisers are noise to a user
    # One thread: the voice runs while the model generates on every core, and there a 4-word chunk took
    # 73 ms on one thread but 217 ms on two (2 busy cores); on idle cores two threads gained ~15%.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own untyped errors for broken files
        raise SpeechError(f"voice file {model} could not be opened ({e}); download it again") from e
