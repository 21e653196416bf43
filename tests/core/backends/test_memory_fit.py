"""Fit in memory: weights counted from safetensors headers, dtype auto on a CPU, refusal instead of an OOM kill."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from voxtral_desktop import ModelLoadError, VoxtralModel, load_config
from voxtral_desktop.core.backends import memory
from voxtral_desktop.core.backends.local import LocalBackend
from voxtral_desktop.core.backends.memory import WeightCount, choose_dtype
from voxtral_desktop.core.errors import NotEnoughMemory

GB = 10**9
MINI = WeightCount(4_676_000_000, "bfloat16")  # Voxtral Mini 3B as stored on the hub


def test_weights_are_counted_from_the_headers_of_every_shard(tmp_path):
    save_file({"a": torch.zeros(3, 4, dtype=torch.bfloat16)}, tmp_path / "model-00001-of-00002.safetensors")
    save_file({"b": torch.zeros(5, dtype=torch.bfloat16)}, tmp_path / "model-00002-of-00002.safetensors")
    save_file({"dup": torch.zeros(100)}, tmp_path / "consolidated.safetensors")  # the Mistral-format copy
    assert memory.count_weights(tmp_path) == WeightCount(17, "bfloat16")


def test_cpu_auto_keeps_float32_without_bf16_hardware_when_it_fits():
    assert choose_dtype("auto", "cpu", MINI, available=64 * GB, native_bf16=False) == "float32"


def test_cpu_auto_picks_bfloat16_on_bf16_hardware_for_a_16_bit_checkpoint():
    assert choose_dtype("auto", "cpu", MINI, available=64 * GB, native_bf16=True) == "bfloat16"
    # a float32 checkpoint (like the tiny test model) was saved that way on purpose
    assert choose_dtype("auto", "cpu", WeightCount(10**6, "float32"), 64 * GB, native_bf16=True) == "float32"


def test_cpu_auto_falls_back_to_bfloat16_when_float32_would_not_fit():
    assert choose_dtype("auto", "cpu", MINI, available=16 * GB, native_bf16=False) == "bfloat16"


def test_when_even_bfloat16_will_not_fit_the_refusal_gives_both_figures_and_the_ways_out():
    with pytest.raises(NotEnoughMemory) as caught:
        choose_dtype("auto", "cpu", MINI, available=8 * GB, native_bf16=False)
    err = caught.value
    assert isinstance(err, ModelLoadError)
    assert err.available == 8 * GB and err.needed > 9 * GB
    assert "10.4 GB" in str(err) and "8.0 GB" in str(err) and "backend: openai" in str(err)


def test_an_explicit_float32_that_will_not_fit_suggests_a_smaller_dtype():
    with pytest.raises(NotEnoughMemory, match="model.dtype: bfloat16"):
        choose_dtype("float32", "cpu", MINI, available=16 * GB, native_bf16=False)


@pytest.mark.integration
def test_loading_is_refused_before_any_weight_is_read(tiny_model_dir):
    cfg = load_config(overrides={"model": {"id": str(tiny_model_dir)}})
    model = VoxtralModel(cfg, backend=LocalBackend(cfg, available_memory=lambda: 300 * 2**20))
    with pytest.raises(NotEnoughMemory, match="0.3 GB is available"):
        model.initialize()
    assert not model.is_initialized
    # With the real figure the same model loads.
    VoxtralModel(cfg).initialize()
