"""The recorded human speech the tests use: found where the Debian package puts it, what it says is what the
package's transcription says, resampled on request, and a clear message (never silence) when it is absent."""

from __future__ import annotations

import numpy as np
import pytest

from voxtral_desktop.testing import human_speech


def test_each_sentence_is_the_packages_clips_and_says_what_its_transcription_says(human_sentences):
    listed = {}
    for line in (human_speech.data_dir() / "transcription").read_text().splitlines():
        words, _, clip = line.rpartition(" (")
        listed[clip.rstrip(")") + ".wav"] = words.replace("<s>", "").replace("</s>", "").split()
    for sentence in human_speech.SENTENCES:
        assert sentence.text.split() == [w for clip in sentence.clips for w in listed[clip]]
        clip_seconds = sum(p.stat().st_size - 44 for p in sentence.paths) / 2 / 16000  # 16-bit mono WAV
        assert len(human_sentences[sentence.key]) / 16000 == pytest.approx(clip_seconds, abs=0.01)


def test_the_recordings_are_speech_at_a_usual_level_not_clipped(human_sentences):
    for key, audio in human_sentences.items():
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.2 < float(np.abs(audio).max()) < 0.99, key
        assert float(np.mean(np.abs(audio) > 0.98)) < 0.001, key


def test_the_telephone_band_version_is_the_same_sentence_at_8_khz(human_sentences):
    audio = human_speech.load("dashwood", human_speech.TELEPHONE_RATE)
    assert len(audio) == pytest.approx(len(human_sentences["dashwood"]) / 2, abs=2)
    spectrum = np.abs(np.fft.rfft(human_sentences["dashwood"])) ** 2
    below_4k = spectrum[: len(spectrum) // 2].sum()  # what survives an 8 kHz microphone
    assert below_4k / spectrum.sum() > 0.9  # most of a voice's energy does: it stays intelligible


def test_a_caller_may_change_what_it_gets_without_changing_the_next_callers_copy(human_sentences):
    first = human_speech.load("amiable")
    first[:] = 0
    assert np.array_equal(human_speech.load("amiable"), human_sentences["amiable"])


def test_without_the_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv(human_speech.DIR_ENV, str(tmp_path))
    with pytest.raises(human_speech.HumanSpeechUnavailable, match=f"apt-get install {human_speech.DEBIAN_PACKAGE}"):
        human_speech.load("amiable")


def test_an_unknown_sentence_names_the_ones_there_are():
    with pytest.raises(KeyError, match="ill_disposed"):
        human_speech.load("to be or not to be")
