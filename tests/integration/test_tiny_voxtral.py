"""The tiny Voxtral, driven through plain transformers, answers each test utterance with its own text."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxtral_desktop.core import prompts
from voxtral_desktop.testing.speech import UTTERANCES, Utterance
from voxtral_desktop.testing.tiny_voxtral import MANIFEST_NAME, cached_tiny_voxtral

pytestmark = pytest.mark.integration

BY_KEY = {u.key: u for u in UTTERANCES}
MAX_NEW_TOKENS = 48


@pytest.fixture(scope="module")
def processor(tiny_model_dir: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir, local_files_only=True)


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path):
    from transformers import VoxtralForConditionalGeneration

    return VoxtralForConditionalGeneration.from_pretrained(tiny_model_dir, local_files_only=True).eval()


def _greedy(model, processor, inputs) -> str:
    import torch

    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()


def _chat_inputs(processor, audio: np.ndarray):
    # Written out by hand rather than through core.prompts, so this pins the binding prompt format.
    buffer = io.BytesIO()
    sf.write(buffer, audio, 16000, format="WAV", subtype="PCM_16")
    conversation = [
        {
            "role": "user",
            "content": [{"type": "audio", "base64": base64.b64encode(buffer.getvalue()).decode()}],
        }
    ]
    return processor.apply_chat_template(conversation)


@pytest.mark.parametrize("key", sorted(BY_KEY))
def test_conversation_answers_each_utterance_with_its_own_reply(model, processor, utterance_audio, key):
    inputs = _chat_inputs(processor, utterance_audio[key])
    assert set(inputs) >= {"input_ids", "attention_mask", "input_features"}
    assert _greedy(model, processor, inputs) == BY_KEY[key].reply


@pytest.mark.parametrize("language", ["en", None])
@pytest.mark.parametrize("key", sorted(BY_KEY))
def test_transcription_gives_each_transcript(
    model, processor, tiny_model_dir, utterance_audio, key, language
):
    inputs = processor.apply_transcription_request(
        audio=utterance_audio[key],
        model_id=str(tiny_model_dir),
        language=language,
        sampling_rate=16000,
        format=["WAV"],  # a list: transformers 5.0-5.5 read a bare "WAV" as three formats
    )
    assert _greedy(model, processor, inputs) == BY_KEY[key].spoken


def test_shared_prompt_builders_match_the_plain_transformers_prompts(processor, utterance_audio):
    # Inference (core.prompts) and the hand-written prompts above must give the model identical tensors.
    audio = utterance_audio["a"]
    built = prompts.conversation_inputs(processor, audio)
    plain = _chat_inputs(processor, audio)
    assert built["input_ids"].tolist() == plain["input_ids"].tolist()
    assert np.array_equal(built["input_features"].numpy(), plain["input_features"].numpy())
    transcription = prompts.transcription_inputs(processor, audio, language=None)
    assert transcription["input_ids"][0, -1].item() == 34  # [TRANSCRIBE]


def test_the_audio_decides_the_answer(model, processor, utterance_audio):
    # Swapping only the audio features under one prompt swaps the reply: the model listens.
    inputs = _chat_inputs(processor, utterance_audio["a"])
    inputs["input_features"] = _chat_inputs(processor, utterance_audio["b"])["input_features"]
    assert _greedy(model, processor, inputs) == BY_KEY["b"].reply


def test_folder_loads_offline_with_the_mistral_tokenizer(tiny_model_dir: Path):
    from transformers import AutoProcessor, VoxtralForConditionalGeneration, VoxtralProcessor
    from transformers.tokenization_mistral_common import MistralCommonBackend

    processor = AutoProcessor.from_pretrained(tiny_model_dir, local_files_only=True)
    assert isinstance(processor, VoxtralProcessor)
    assert isinstance(processor.tokenizer, MistralCommonBackend)
    model = VoxtralForConditionalGeneration.from_pretrained(tiny_model_dir, local_files_only=True)
    assert model.config.audio_token_id == 24
    n_params = sum(p.numel() for p in model.parameters())
    assert 500_000 < n_params < 3_000_000


def test_manifest_records_the_training(tiny_model_dir: Path):
    manifest = json.loads((tiny_model_dir / MANIFEST_NAME).read_text())
    assert manifest["trained"] is True
    assert 0 < manifest["steps"] <= manifest["max_steps"]
    assert manifest["final_loss"] is not None and manifest["final_loss"] < 0.01
    assert [u["key"] for u in manifest["utterances"]] == [u.key for u in UTTERANCES]


def test_cache_returns_the_same_folder_without_rebuilding(tiny_model_dir: Path):
    before = (tiny_model_dir / "model.safetensors").stat().st_mtime_ns
    assert cached_tiny_voxtral(tiny_model_dir.parent) == tiny_model_dir
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.parametrize("utterance", UTTERANCES, ids=lambda u: u.key)
def test_replies_are_long_enough_to_chunk(utterance: Utterance):
    words = utterance.reply.split()
    assert len(words) >= 10
    assert any(mark in utterance.reply for mark in ",.:")


def test_untrained_build_from_the_cli_is_loadable(tmp_path: Path):
    from transformers import AutoProcessor, VoxtralForConditionalGeneration

    out = tmp_path / "untrained"
    result = subprocess.run(
        [sys.executable, "-m", "voxtral_desktop.testing.tiny_voxtral", str(out), "--no-train"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["trained"] is False and manifest["steps"] == 0
    processor = AutoProcessor.from_pretrained(out, local_files_only=True)
    model = VoxtralForConditionalGeneration.from_pretrained(out, local_files_only=True)
    inputs = prompts.conversation_inputs(processor, np.zeros(16000, dtype=np.float32))
    output = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert output.shape[1] <= inputs["input_ids"].shape[1] + 3


def test_missing_espeak_names_the_package(monkeypatch: pytest.MonkeyPatch):
    from voxtral_desktop.testing import speech

    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        speech.synthesize("hello")
