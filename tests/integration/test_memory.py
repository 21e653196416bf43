"""Memory on the real processor: the second turn's prompt holds the first audio turn and its reply."""

from __future__ import annotations

import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

AUDIO_TOKEN_ID = 24
AUDIO_TOKENS_PER_WINDOW = 375  # 30 s of audio


async def test_second_turn_inputs_hold_the_first_audio_turn_and_its_reply(tiny_model_dir, utterance_audio, tmp_path):
    cfg = load_config(overrides={"model": {"id": str(tiny_model_dir)}, "streaming": {"temperature": 0}})
    model = VoxtralModel(cfg)
    model.initialize()
    built = []
    backend = model.backend
    original = backend.build_inputs

    def spy(request):
        inputs = original(request)
        built.append(inputs)
        return inputs

    backend.build_inputs = spy
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        first = [c async for c in session.respond(utterance_audio["a"])]
        assert " ".join(c["text"] for c in first) == UTTERANCES[0].reply
        [c async for c in session.respond(utterance_audio["b"])]
    one, two = built
    assert int((one["input_ids"] == AUDIO_TOKEN_ID).sum()) == AUDIO_TOKENS_PER_WINDOW
    assert int((two["input_ids"] == AUDIO_TOKEN_ID).sum()) == 2 * AUDIO_TOKENS_PER_WINDOW
    assert two["input_features"].shape[0] == 2  # one 30 s mel window per audio turn
    prompt = backend.processor.tokenizer.decode(two["input_ids"][0], skip_special_tokens=True)
    assert UTTERANCES[0].reply in prompt
    # The first turn's features are those of utterance A, in front of B's.
    assert (two["input_features"][0] == one["input_features"][0]).all()
    model.close()
