"""Loaded on a CPU, the model says what a reply will cost before the user talks, and names emulated bf16."""

from __future__ import annotations

import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core.backends import memory

pytestmark = pytest.mark.integration


def test_a_cpu_load_says_what_a_reply_will_cost(tiny_model_dir):
    model = VoxtralModel(load_config(overrides={"model": {"id": str(tiny_model_dir), "device": "cpu"}}))
    model.initialize()
    assert model.load_notice.startswith("On this CPU (float32) a question")
    assert "emulated" not in model.load_notice
    model.close()


def test_float32_that_does_not_fit_on_a_cpu_without_bf16_says_it_is_emulated_and_names_a_server(
    tiny_model_dir, monkeypatch
):
    monkeypatch.setattr(memory, "has_native_bf16", lambda: False)
    weights = memory.count_weights(tiny_model_dir)
    assert weights is not None
    # Room for bfloat16 but not for float32, as on a 16 GB laptop with Voxtral Mini.
    needs = [memory.needed_bytes(weights.parameters, dtype) for dtype in ("bfloat16", "float32")]
    between = sum(needs) // 2
    cfg = load_config(overrides={"model": {"id": str(tiny_model_dir), "device": "cpu", "dtype": "auto"}})
    model = VoxtralModel(cfg)
    from voxtral_desktop.core.backends.local import LocalBackend

    model.backend = LocalBackend(cfg, available_memory=lambda: int(between / memory.USABLE_FRACTION))
    model.initialize()
    said = model.load_notice
    assert "(bfloat16)" in said, said
    assert "no native bfloat16" in said and "emulated" in said and "float32 does not fit" in said
    assert "server (backend: openai" in said
    model.close()
