"""Prefix reuse on the tiny Voxtral: the same greedy replies, token for token, as recomputing every turn."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import INTERRUPTED, HistoryStore
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

A, B = UTTERANCES[0], UTTERANCES[1]
MAX_TURNS = 3  # small, so a dozen turns go well past it and old turns are dropped several times


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    cfg = load_config(
        overrides={
            "model": {"id": str(tiny_model_dir)},
            "streaming": {"temperature": 0.0},
            "conversation": {"max_turns": MAX_TURNS},
        }
    )
    m = VoxtralModel(cfg)
    m.initialize()
    yield m
    m.close()


@dataclass
class Recorder:
    """Spies on what the user cannot see: generated token ids and audio windows run through the encoder."""

    tokens: list[list[int]] = field(default_factory=list)
    encoded_windows: int = 0
    reused: list[int] = field(default_factory=list)


@pytest.fixture
def recorder(model):
    backend = model.backend
    backend.forget_conversations()  # each test starts with nothing kept
    rec = Recorder()
    original = backend.model.generate

    def generate(*args, **kwargs):
        cache = kwargs.get("cache")
        reused = cache.get_seq_length() if cache is not None else 0  # what was kept from the last exchange
        out = original(*args, **kwargs)
        rec.tokens.append(out[0, kwargs["input_ids"].shape[1] :].tolist())
        rec.reused.append(reused)
        return out

    def count(module, args, output):
        rec.encoded_windows += int(args[0].shape[0])

    backend.model.generate = generate
    hook = backend.model.model.audio_tower.register_forward_hook(count)
    saved = model.config.copy()
    yield rec
    hook.remove()
    del backend.model.generate
    model.config.update(saved.to_dict())
    backend.forget_conversations()


class Failure:
    """Makes the text model's second layer raise once, during a prefill: the first layer's cache has
    already grown by then, which is the half-updated state a failed reply must not leave behind."""

    def __init__(self, model: VoxtralModel) -> None:
        self.armed = False
        layer = model.backend.model.model.language_model.layers[1]
        self.hook = layer.register_forward_pre_hook(self._maybe_fail)

    def _maybe_fail(self, module, args):
        if self.armed:
            self.armed = False
            raise RuntimeError("injected failure in the middle of the model")


async def run_script(model: VoxtralModel, store: HistoryStore, audio: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Two conversations, spoken and typed turns, a reply closed after its first chunk, a failed reply,
    a switch away and back, settings changes, and turns past max_turns. Returns (status, text) per reply."""
    main = ConversationSession(model, store)
    other = ConversationSession(model, store)
    failure = Failure(model)
    out: list[tuple[str, str]] = []

    async def spoken(session: ConversationSession, clip: np.ndarray) -> None:
        async for _ in session.respond(clip):
            pass
        out.append((session.last.status, session.last.text))

    async def typed(session: ConversationSession, text: str) -> None:
        async for _ in session.respond_text(text):
            pass
        out.append((session.last.status, session.last.text))

    try:
        await spoken(main, audio["a"])
        await spoken(main, audio["b"])
        await typed(main, "What is the weather like today?")
        # Closed after the first chunk, as when the user talks over the reply: generation stops between
        # tokens, a word or two past what was shown, and the shown part is what the history keeps.
        async with contextlib.aclosing(main.respond(audio["a_soft"])) as reply:
            async for chunk in reply:
                assert chunk["success"] and not chunk["is_final"]
                break
        out.append((main.last.status, main.last.text))
        await spoken(main, audio["b_soft"])  # past max_turns: the oldest turns go
        await spoken(other, audio["b"])  # another conversation in between
        await spoken(other, audio["a_soft"])
        failure.armed = True
        await spoken(main, audio["a"])  # fails in its prefill
        await spoken(main, audio["a"])
        model.config.conversation.instruction = "Answer in one sentence."
        await typed(main, "Please tell me a short joke.")
        await spoken(main, audio["b"])
        model.config.conversation.max_turns = MAX_TURNS - 1
        await spoken(main, audio["b_soft"])
        await spoken(main, audio["a_soft"])
    finally:
        failure.hook.remove()
    return out


@pytest.fixture(scope="module")
def clips(utterance_audio):
    # Quieter copies are different recordings (different features) that the tiny model still answers.
    return {
        "a": utterance_audio["a"],
        "b": utterance_audio["b"],
        "a_soft": (utterance_audio["a"] * 0.7).astype(np.float32),
        "b_soft": (utterance_audio["b"] * 0.7).astype(np.float32),
    }


async def test_replies_with_reuse_equal_replies_without_token_for_token(model, recorder, clips, tmp_path):
    start = model.config.copy()
    model.config.model.reuse_prefix = False
    with HistoryStore(tmp_path / "plain.sqlite3") as store:
        plain = await run_script(model, store, clips)
    model.config.update(start.to_dict())  # the script changes settings on its way
    plain_tokens, plain_windows = recorder.tokens[:], recorder.encoded_windows
    recorder.tokens.clear()
    recorder.encoded_windows = 0
    recorder.reused.clear()

    model.config.model.reuse_prefix = True
    with HistoryStore(tmp_path / "reuse.sqlite3") as store:
        reused = await run_script(model, store, clips)

    assert reused == plain
    # The script really exercised what it claims: an interrupted reply, a failed one, replies that worked.
    statuses = [status for status, _ in plain]
    assert statuses.count(INTERRUPTED) == 1 and statuses.count("error") == 1
    assert plain[0][1] == A.reply
    cancelled_turn = 3
    assert len(recorder.tokens) == len(plain_tokens)
    for turn, (with_reuse, without) in enumerate(zip(recorder.tokens, plain_tokens, strict=True)):
        if turn != cancelled_turn:  # where generation stopped after a cancel depends on timing
            assert with_reuse == without, f"turn {turn + 1}"
    # And reuse happened: most turns started from a kept prefix, and each recording was encoded once.
    assert sum(1 for n in recorder.reused if n > 0) >= len(recorder.reused) // 2
    assert recorder.encoded_windows == len(clips)
    assert plain_windows > 3 * len(clips)


async def test_a_reload_starts_from_nothing(model, utterance_audio, tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        [c async for c in session.respond(utterance_audio["a"])]
        [c async for c in session.respond(utterance_audio["b"])]
        assert model.backend.last_reuse.reused_tokens > 0
        assert model.backend.last_reuse.encoded_windows == 1  # only the new recording
        model.close()
        model.initialize()
        [c async for c in session.respond(utterance_audio["b"])]
        assert model.backend.last_reuse.reused_tokens == 0
        assert model.backend.last_reuse.encoded_windows == 3  # nothing survives a reload
        assert session.last.status == "complete" and session.last.text


async def test_transcribe_mode_is_untouched_by_reuse(model, recorder, utterance_audio, tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        [c async for c in session.respond(utterance_audio["a"])]
        before = model.backend.last_reuse
        chunks = [c async for c in session.respond(utterance_audio["a"], mode="transcribe")]
    assert " ".join(c["text"] for c in chunks if c["text"]) == A.spoken
    assert model.backend.last_reuse is before  # no reuse bookkeeping for a transcript
    assert recorder.encoded_windows == 2  # the transcript ran its own encoder pass, as before
