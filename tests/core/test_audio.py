"""Audio normalisation to mono float32 16 kHz, speech detection, and WAV encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from voxtral_desktop.core.audio import (
    AudioError,
    detect_speech,
    frame_rms,
    normalize_audio,
    rms,
    wav_bytes,
    waveform,
)


def tone(seconds: float = 1.0, rate: int = 16000, amp: float = 0.5, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_mono_float32_passes_through_unchanged():
    x = tone()
    out = normalize_audio(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_dtypes_become_float32(dtype):
    x = tone()
    out = normalize_audio(x.astype(dtype))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x, atol=1e-3)


def test_int16_is_scaled_to_unit_range():
    x = (tone() * 32767).astype(np.int16)
    out = normalize_audio(x)
    np.testing.assert_allclose(out, tone(), atol=1e-4)


@pytest.mark.parametrize("layout", ["n2", "2n"])
def test_stereo_is_downmixed(layout):
    left, right = tone(freq=220), tone(freq=330)
    stereo = np.stack([left, right], axis=1 if layout == "n2" else 0)
    np.testing.assert_allclose(normalize_audio(stereo), (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_torch_tensors_of_any_float_dtype(dtype):
    x = tone()
    out = normalize_audio(torch.from_numpy(x).to(dtype))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, x, atol=1e-2)


def test_torch_int16_stereo_tensor():
    x = torch.from_numpy((np.stack([tone(), tone()]) * 32767).astype(np.int16))
    np.testing.assert_allclose(normalize_audio(x), tone(), atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled_to_16k(rate):
    out = normalize_audio(tone(2.0, rate=rate), sample_rate=rate)
    assert abs(out.shape[0] - 32000) <= 2
    # The tone's pitch survives: the spectrum peaks at 220 Hz.
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / out.shape[0] - 220) < 2


@pytest.mark.parametrize(
    "bad, match",
    [
        (None, "no audio"),
        ("hello.wav", "numpy array or torch tensor"),
        ([0.1, 0.2, 0.3], "numpy array or torch tensor"),
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros(1, dtype=np.float32), "too short"),
        (np.array([0.1, np.nan] * 1000, dtype=np.float32), "NaN or infinite"),
        (np.array([0.1, np.inf] * 1000, dtype=np.float32), "NaN or infinite"),
        (np.zeros((2, 2, 1600), dtype=np.float32), "3-D"),
        (np.zeros(16000, dtype=np.int32), "dtype int32"),
        (np.zeros(16000, dtype=bool), "dtype bool"),
        (np.zeros(16000, dtype=np.complex64), "dtype complex64"),
        (np.full(16000, 300.0, dtype=np.float32), "must lie in"),
        (np.zeros((100, 100), dtype=np.float32), "samples from channels"),
    ],
)
def test_bad_audio_raises_a_clear_error(bad, match):
    with pytest.raises(AudioError, match=match):
        normalize_audio(bad)


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, True])
def test_bad_sample_rate(rate):
    with pytest.raises(AudioError, match="sample_rate"):
        normalize_audio(tone(), sample_rate=rate)


def test_input_array_is_not_modified():
    x = tone(amp=1.2)
    before = x.copy()
    out = normalize_audio(x)
    np.testing.assert_array_equal(x, before)
    assert out.max() <= 1.0


def test_speech_detection_hears_a_voice_and_not_silence_or_hiss():
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(16000) * 0.002).astype(np.float32)
    assert not detect_speech(np.zeros(16000, np.float32), 0.01, 200).is_speech
    assert not detect_speech(hiss, 0.01, 200).is_speech
    report = detect_speech(tone(amp=0.1), 0.01, 200)
    assert report.is_speech and report.speech_ms == pytest.approx(1000, abs=20)


def test_speech_detection_needs_the_minimum_duration():
    click = np.zeros(16000, np.float32)
    click[:1600] = tone(0.1, amp=0.5)  # 100 ms of sound
    assert not detect_speech(click, 0.01, 200).is_speech
    assert detect_speech(click, 0.01, 100).is_speech


def test_wav_bytes_decode_back_to_the_audio():
    x = tone()
    data, rate = sf.read(io.BytesIO(wav_bytes(x)), dtype="float32")
    assert rate == 16000 and data.shape == x.shape
    np.testing.assert_allclose(data, x, atol=1e-4)


def test_rms_of_a_sine_is_its_amplitude_over_root_two_and_silence_is_zero():
    assert rms(tone(amp=0.5)) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert rms(np.full(320, -0.25, np.float32)) == pytest.approx(0.25)
    assert rms(np.zeros(320, np.float32)) == 0.0 and rms(np.zeros(0, np.float32)) == 0.0


def test_frame_rms_pads_the_last_frame_with_silence():
    audio = np.concatenate([np.full(320, 0.5, np.float32), np.full(160, 0.5, np.float32)])
    np.testing.assert_allclose(frame_rms(audio, 320), [0.5, 0.5 / np.sqrt(2)], rtol=1e-6)


def test_waveform_follows_the_loudness_and_peaks_at_one():
    quiet_then_loud = np.concatenate([tone(0.5, amp=0.1), tone(0.5, amp=0.4)])
    bars = waveform(quiet_then_loud, 10)
    assert len(bars) == 10 and max(bars) == pytest.approx(1.0)
    assert all(b == pytest.approx(0.25, rel=0.05) for b in bars[:5])
    assert waveform(np.zeros(0, np.float32), 4) == [0.0] * 4
    assert waveform(np.zeros(100, np.float32), 3) == [0.0] * 3  # silence: no division by zero
