"""A real Piper voice (en_US-joe-medium) speaks text, sentence by sentence; broken setups say what to do."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.speech.phonemes import EspeakPhonemizer
from voxtral_desktop.core.speech.voices import PiperVoice, Voice


def voiced_seconds(audio: np.ndarray, rate: int, threshold: float = 0.02) -> float:
    frames = len(audio) // (rate // 100)
    rms = np.sqrt(np.mean(audio[: frames * (rate // 100)].reshape(frames, -1) ** 2, axis=1))
    return float(np.sum(rms > threshold)) / 100


def test_the_voice_speaks_a_chunk_as_audio_of_plausible_length(joe_voice):
    assert isinstance(joe_voice, Voice)
    assert joe_voice.sample_rate == 22050
    pieces = list(joe_voice.synthesize("The weather is sunny"))
    assert len(pieces) == 1
    audio = pieces[0]
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.all(np.abs(audio) <= 1.0)
    # Four words take between half a second and two seconds to say; most of it is voiced.
    assert 0.5 < len(audio) / joe_voice.sample_rate < 2.0
    assert voiced_seconds(audio, joe_voice.sample_rate) > 0.3


def test_each_sentence_comes_as_its_own_piece_in_order(joe_voice):
    text = "Hello there. How are you today? Fine."
    pieces = list(joe_voice.synthesize(text))
    assert len(pieces) == 3
    # The second sentence is the longest, the last one the shortest: the order is the text's.
    lengths = [len(p) for p in pieces]
    assert lengths[1] > lengths[0] > lengths[2]
    # Streaming: the first piece is ready before the rest is synthesised (the generator is lazy).
    stream = joe_voice.synthesize(text)
    assert len(next(stream)) == pytest.approx(lengths[0], rel=0.25)  # the voice's timing noise varies a little


def test_a_comma_keeps_its_pause(joe_voice):
    with_comma = np.concatenate(list(joe_voice.synthesize("Yes, it is sunny")))
    without = np.concatenate(list(joe_voice.synthesize("Yes it is sunny")))
    assert len(with_comma) > len(without) + 0.05 * joe_voice.sample_rate


def test_punctuation_only_says_nothing(joe_voice):
    pieces = list(joe_voice.synthesize(" ... "))
    assert sum(voiced_seconds(p, joe_voice.sample_rate) for p in pieces) == 0


def test_phonemes_keep_clause_and_sentence_marks():
    sentences = EspeakPhonemizer("en-us").sentences("Well, hello there! Bye")
    assert len(sentences) == 2
    assert "," in sentences[0] and sentences[0].endswith("!")
    assert not sentences[1].endswith((".", "!", "?"))


def test_a_voice_file_without_its_settings_says_so(tmp_path, joe_voice):
    lonely = tmp_path / "en_US-x-medium.onnx"
    lonely.symlink_to(joe_voice.model_path)
    with pytest.raises(SpeechError, match=r"no settings file.*\.onnx\.json"):
        PiperVoice.load(lonely)


def test_a_missing_or_broken_voice_file_says_so(tmp_path, joe_voice):
    with pytest.raises(SpeechError, match="does not exist"):
        PiperVoice.load(tmp_path / "nowhere.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    shutil.copy(str(joe_voice.model_path) + ".json", str(broken) + ".json")
    with pytest.raises(SpeechError, match="could not be opened.*download it again"):
        PiperVoice.load(broken)


def test_without_espeak_ng_the_voice_says_how_to_install_it(monkeypatch, joe_voice):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpeechError, match="espeak-ng"):
        PiperVoice.load(joe_voice.model_path)
