"""Bad input through the public streaming call: one clear error chunk, no model call, nothing else changes."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.testing.fakes import ScriptedBackend

REPLY = "Sure, here is the answer you asked for."
CONTRACT_KEYS = {"success", "text", "is_final", "chunk_index", "processing_time_ms"}


def speech(seconds: float = 1.0, rate: int = 16000, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def make_model() -> tuple[VoxtralModel, ScriptedBackend]:
    backend = ScriptedBackend(pieces=[w + " " for w in REPLY.split()])
    model = VoxtralModel(load_config(overrides={"streaming": {"temperature": 0.0}}), backend=backend)
    model.initialize()
    return model, backend


async def collect(model: VoxtralModel, audio, **kw) -> list[dict]:
    return [c async for c in model.process_realtime_chunk_streaming(audio, "bad-input", **kw)]


async def assert_rejected(audio, text: str, error_part: str, **kw) -> None:
    """One final error chunk in the contract's format, no model call, and the next reply still works."""
    model, backend = make_model()
    chunks = await collect(model, audio, **kw)
    assert len(chunks) == 1, chunks
    chunk = chunks[0]
    assert set(chunk) == CONTRACT_KEYS | {"error"}
    assert chunk["success"] is False and chunk["is_final"] is True and chunk["chunk_index"] == 0
    assert chunk["text"] == text
    assert error_part in chunk["error"], chunk["error"]
    assert backend.requests == []
    after = await collect(model, speech())
    assert " ".join(c["text"] for c in after if c["text"]) == REPLY


@pytest.mark.parametrize(
    "rate, error_part",
    [
        (0, "positive integer"),
        (-16000, "positive integer"),
        (10**12, "between 8000 and 384000 Hz"),
        (2**40, "between 8000 and 384000 Hz"),
        (16, "between 8000 and 384000 Hz"),  # kHz given where Hz is meant
        (16000.0, "positive integer"),
        (44100.5, "positive integer"),
        ("16000", "positive integer"),
        (None, "positive integer"),
    ],
    ids=["zero", "negative", "huge", "2^40", "kHz", "float", "fractional", "str", "None"],
)
async def test_a_bad_sample_rate_is_named_in_an_error_chunk(rate, error_part):
    await assert_rejected(speech(), C.BAD_AUDIO_TEXT, error_part, sample_rate=rate)


@pytest.mark.parametrize("peak", [2.5, 40.0, 32767.0])
async def test_a_peak_above_the_accepted_limit_is_rejected(peak):
    audio = speech(amp=peak)
    await assert_rejected(audio, C.BAD_AUDIO_TEXT, "must lie in [-1, 1]")


async def test_a_little_overshoot_is_clipped_and_answered():
    model, backend = make_model()
    chunks = await collect(model, speech(amp=1.4))
    assert chunks[-1]["success"]
    assert float(np.abs(backend.requests[0].audio).max()) <= 1.0


def _layouts() -> dict[str, tuple[np.ndarray, int, np.ndarray]]:
    """Input arrays in awkward memory layouts, the rate they are at, and the 16 kHz mono they stand for."""
    mono = speech()
    stereo_f = np.asfortranarray(np.stack([mono, mono], axis=1))  # (n, 2), column-major
    interleaved = np.stack([mono, np.zeros_like(mono)], axis=1).ravel()[::2]  # a strided 1-D view
    int16 = (mono * 32767).astype(np.int16)
    readonly = mono.copy()
    readonly.flags.writeable = False
    readonly_int16 = int16.copy()
    readonly_int16.flags.writeable = False
    readonly_48k = speech(rate=48000)
    readonly_48k.flags.writeable = False
    loud_readonly = speech(amp=1.3)
    loud_readonly.flags.writeable = False
    return {
        "fortran-stereo": (stereo_f, 16000, mono),
        "strided-1d": (interleaved, 16000, mono),
        "transposed-channels": (np.stack([mono, mono]).T, 16000, mono),
        "read-only": (readonly, 16000, mono),
        "read-only-int16": (readonly_int16, 16000, int16 / 32768.0),
        "read-only-48k": (readonly_48k, 48000, mono),
        "read-only-clipped": (loud_readonly, 16000, np.clip(speech(amp=1.3), -1, 1)),
    }


@pytest.mark.parametrize("name", list(_layouts()))
async def test_non_contiguous_and_read_only_arrays_are_answered_and_left_untouched(name):
    audio, rate, expected = _layouts()[name]
    before, writeable = audio.copy(), audio.flags.writeable
    model, backend = make_model()
    chunks = await collect(model, audio, sample_rate=rate)
    assert chunks[-1]["success"], chunks[-1]
    assert " ".join(c["text"] for c in chunks if c["text"]) == REPLY
    sent = backend.requests[0].audio
    assert sent.dtype == np.float32 and sent.flags.c_contiguous and sent.ndim == 1
    assert abs(sent.shape[0] - expected.shape[0]) <= 2
    n = min(sent.shape[0], expected.shape[0])
    # Resampling rings a little at the edges; the body must match the source.
    np.testing.assert_allclose(sent[100 : n - 100], expected[100 : n - 100], atol=2e-3)
    np.testing.assert_array_equal(audio, before)
    assert audio.flags.writeable == writeable


@pytest.mark.parametrize("offset", [0.05, 0.3, -0.5])
async def test_silence_with_a_dc_offset_is_not_speech(offset):
    rng = np.random.default_rng(7)
    silence = (offset + rng.normal(0.0, 0.0005, 32000)).astype(np.float32)  # mic hiss around an offset
    await assert_rejected(silence, C.NO_SPEECH_TEXT, "no speech detected")


async def test_speech_on_top_of_a_dc_offset_is_still_speech():
    model, backend = make_model()
    chunks = await collect(model, speech(amp=0.2) + np.float32(0.4))
    assert chunks[-1]["success"] and len(backend.requests) == 1


@pytest.mark.parametrize("ms", [10, 50])
async def test_a_recording_too_short_for_speech_says_so(ms):
    await assert_rejected(speech(ms / 1000.0), C.TOO_SHORT_TEXT, f"audio is {ms} ms long")


TWO_HOURS_S = 2 * 3600


@pytest.mark.parametrize(
    "make, rate",
    [
        # Never-touched zeros: the pages only exist if something reads or copies them.
        (lambda: np.zeros(16000 * TWO_HOURS_S, np.float32), 16000),
        # 1.4 GB of int16 stereo at 48 kHz as a zero-memory view: any conversion would allocate it for real.
        (lambda: np.broadcast_to(np.int16(1000), (48000 * TWO_HOURS_S, 2)), 48000),
        (lambda: np.broadcast_to(np.float64(0.1), (2, 44100 * TWO_HOURS_S)), 44100),
    ],
    ids=["float32-16k", "int16-stereo-48k", "float64-channels-first-44k"],
)
async def test_a_two_hour_array_is_rejected_fast_without_copying_it(make, rate):
    audio = make()
    model, backend = make_model()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        chunks = await collect(model, audio, sample_rate=rate)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(chunks) == 1 and chunks[0]["text"] == C.TOO_LONG_TEXT
    assert "7200.0 s long" in chunks[0]["error"] and "max_recording_s" in chunks[0]["error"]
    assert peak < 1_000_000, f"{peak} bytes allocated to reject it"
    assert elapsed < 5.0  # only catches a hang or a full conversion; the real figure is milliseconds
    assert backend.requests == []


async def test_a_conversation_turn_with_a_bad_rate_is_refused_too(tmp_path):
    model, backend = make_model()
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        chunks = [c async for c in session.respond(speech(), sample_rate=0)]
        assert len(chunks) == 1 and chunks[0]["text"] == C.BAD_AUDIO_TEXT
        assert "sample_rate" in chunks[0]["error"]
        assert backend.requests == []
        assert session.last is not None and session.last.status == "error"
