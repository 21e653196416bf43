"""The chat messages sent to an OpenAI-compatible server: earlier turns, then the audio in the server's form."""

from __future__ import annotations

import base64
import io

import pytest
import soundfile as sf

from voxtral_desktop.core.backends.base import GenerationRequest, Mode, Turn
from voxtral_desktop.core.backends.openai_wire import AUDIO_FORMATS, audio_part, build_messages
from voxtral_desktop.testing.fakes import tone


def request(**kw) -> GenerationRequest:
    fields = {"audio": tone(0.5), "mode": Mode.CONVERSATION, "max_new_tokens": 8, "temperature": 0, "top_p": 1}
    return GenerationRequest(**{**fields, **kw})


@pytest.mark.parametrize("audio_format", AUDIO_FORMATS)
def test_every_audio_form_carries_the_same_16_bit_wav(audio_format):
    part = audio_part(tone(0.5), audio_format)
    inner = part[part["type"]]
    b64 = {"audio_url": lambda: inner["url"].split(",", 1)[1], "input_audio": lambda: inner["data"]}.get(
        audio_format, lambda: inner  # Mistral's form: the base64 string itself
    )()
    data, rate = sf.read(io.BytesIO(base64.b64decode(b64)), dtype="float32")
    assert rate == 16000 and data.shape == (8000,)


def test_an_unknown_audio_form_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown remote.audio_format 'wav'"):
        audio_part(tone(0.5), "wav")


def test_history_comes_first_and_empty_user_turns_are_left_out():
    history = (Turn(user_text="hi", assistant_text="hello"), Turn(assistant_text="orphan"), Turn(user_text="bye"))
    messages = build_messages(request(history=history, instruction="Be brief."), "audio_url")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "user"]
    assert messages[1]["content"] == "hello"
    assert [p["type"] for p in messages[-1]["content"]] == ["audio_url", "text"]
    assert messages[-1]["content"][1]["text"] == "Be brief."


def test_a_typed_turn_sends_text_only():
    (message,) = build_messages(request(audio=None, text="What time is it?"), "mistral")
    assert message == {"role": "user", "content": [{"type": "text", "text": "What time is it?"}]}
