"""What a reply will cost, said at load: the estimate scales with the model, and emulated bf16 is named."""

from __future__ import annotations

import pytest
import torch
import transformers

from voxtral_desktop.core.backends import cost

# Voxtral Mini's shape (benchmarks/conversation.py builds it with random weights): 32 encoder layers of
# width 1280, a 30-layer 3072-wide text model, a 131k vocabulary.
MINI_AUDIO = dict(
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20, num_mel_bins=128,
    max_source_positions=1500,
)
MINI_TEXT = dict(
    vocab_size=131072, hidden_size=3072, intermediate_size=8192, num_hidden_layers=30, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128,
)


def mini_on_meta(dtype=torch.float32):
    """Voxtral Mini without memory: only the sizes of its weights are there."""
    from transformers import LlamaConfig, VoxtralConfig, VoxtralEncoderConfig, VoxtralForConditionalGeneration

    config = VoxtralConfig(
        audio_config=VoxtralEncoderConfig(**MINI_AUDIO), text_config=LlamaConfig(**MINI_TEXT), audio_token_id=24
    )
    with torch.device("meta"):
        return VoxtralForConditionalGeneration(config).to(dtype)


def test_the_estimate_for_voxtral_mini_matches_what_this_cpu_measured():
    # The speeds this machine's float32 showed on a quiet day (README "Figures": 9.5 s per window,
    # 20.1 s to the first token, 1.38 tokens/s) give back figures of the same size.
    model = mini_on_meta()
    estimate = cost.estimate(model, flops_per_s=240e9, bytes_per_s=20e9)
    assert 6 < estimate.encoder_s < 14, estimate
    assert 5 < estimate.prefill_s < 15, estimate
    assert 1.0 < estimate.tokens_per_s < 1.8, estimate
    # Half the speed, twice the wait.
    slower = cost.estimate(model, flops_per_s=120e9, bytes_per_s=10e9)
    assert slower.first_words_s == pytest.approx(2 * estimate.first_words_s, rel=1e-6)
    said = estimate.sentence("float32")
    assert said.startswith("On this CPU (float32) a question of up to 30 s should get its first words after about")
    assert f"about {estimate.encoder_s:.0f} s listening" in said and "thinking" in said


def test_bfloat16_halves_the_bytes_read_per_token():
    f32 = cost.estimate(mini_on_meta(torch.float32), 240e9, 20e9)
    bf16 = cost.estimate(mini_on_meta(torch.bfloat16), 240e9, 20e9)
    assert bf16.tokens_per_s == pytest.approx(2 * f32.tokens_per_s)


def test_emulated_bf16_because_float32_did_not_fit_names_the_faster_option():
    estimate = cost.ReplyCost(encoder_s=35.0, prefill_s=40.0, tokens_per_s=0.3)
    said = cost.notice(estimate, "bfloat16", emulated_bf16=True, float32_did_not_fit=True)
    assert "first words after about 88 s" in said, said  # 35 + 40 + the first 4 tokens at 0.3 per second
    assert "no native bfloat16" in said and "emulated" in said
    assert "float32 does not fit" in said
    assert "server" in said and "backend: openai" in said


def test_bfloat16_chosen_on_a_cpu_without_it_says_float32_is_faster():
    said = cost.notice(None, "bfloat16", emulated_bf16=True, float32_did_not_fit=False)
    assert "emulated" in said and "model.dtype: float32" in said and "server" in said


def test_native_speed_says_only_the_cost():
    said = cost.notice(cost.ReplyCost(9.0, 11.0, 1.4), "float32", emulated_bf16=False, float32_did_not_fit=False)
    assert "emulated" not in said and "server" not in said
    assert "about 23 s" in said and "1.0 words per second" in said, said
