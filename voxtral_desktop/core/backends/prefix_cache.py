"""Reuse across turns: the last exchange's KV cache per conversation and each audio window's encoder output.

A turn's prompt begins with the previous turn's prompt and reply, so only the new part needs a prefill.
Prompts are compared by *identity*, not by token id alone: every [AUDIO] token stands for a window of
sound, and two recordings have the same [AUDIO] ids; so each audio token is compared as the hash of its
window's mel features. The plan never cuts inside an audio window (its embeddings come whole from the
encoder). Both caches are bounded in bytes and evict the least recently used entry first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

WINDOW_TOKENS = 375  # [AUDIO] tokens per 30 s window (12.5 per second)
MAX_CONVERSATIONS = 4  # KV entries kept: the open conversation and a few it was switched from
MIN_AUTO_BUDGET = 64 * 2**20
AUTO_BUDGET_FRACTION = 0.25  # of the weights' bytes: a 9 GB model may keep ~2.3 GB of caches

Identity = int | str  # a token id, or the hash of the audio window an [AUDIO] token belongs to


def window_key(features: Any) -> str:
    """Hash of one window's mel features (a tensor on any device, any dtype): equal features, equal output."""
    import torch

    raw = features.detach().to("cpu").contiguous().view(torch.uint8).numpy()  # numpy has no bfloat16
    return hashlib.blake2b(raw.tobytes(), digest_size=16).hexdigest()


def identities(token_ids: Sequence[int], window_keys: Sequence[str], audio_token_id: int) -> list[Identity]:
    """Token ids with every [AUDIO] token replaced by the key of the window it belongs to."""
    out: list[Identity] = []
    seen = 0
    for token in token_ids:
        if token == audio_token_id:
            window = seen // WINDOW_TOKENS
            out.append(window_keys[window] if window < len(window_keys) else token)
            seen += 1
        else:
            out.append(token)
    return out


def common_prefix(a: Sequence[Identity], b: Sequence[Identity]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass(frozen=True)
class ReusePlan:
    """How much of a prompt the cached KV covers, and the audio windows that lie inside that part."""

    reused_tokens: int
    skipped_windows: int
    prompt_tokens: int


def plan_reuse(cached: Sequence[Identity], prompt: Sequence[Identity], audio_token_id: int) -> ReusePlan:
    """The longest reusable prefix: a common prefix, never the whole prompt, never cut inside a window."""
    n = common_prefix(cached, prompt)
    n = min(n, len(prompt) - 1)  # the last prompt token must be run: its logits give the first new token
    n = max(n, 0)
    audio = sum(1 for x in prompt[:n] if _is_audio(x, audio_token_id))
    while audio % WINDOW_TOKENS:
        n -= 1
        if _is_audio(prompt[n], audio_token_id):
            audio -= 1
    return ReusePlan(reused_tokens=n, skipped_windows=audio // WINDOW_TOKENS, prompt_tokens=len(prompt))


def _is_audio(x: Identity, audio_token_id: int) -> bool:
    return isinstance(x, str) or x == audio_token_id


def kv_bytes(cache: Any) -> int:
    """Bytes a transformers Cache holds (keys and values of every layer)."""
    total = 0
    for layer in getattr(cache, "layers", ()):
        for name in ("keys", "values"):
            tensor = getattr(layer, name, None)
            if tensor is not None and hasattr(tensor, "nbytes"):
                total += int(tensor.nbytes)
    return total


@dataclass
class KvEntry:
    """A conversation's last exchange: the identities of the tokens the KV cache holds, and the cache."""

    tokens: list[Identity]
    cache: Any
    nbytes: int


class _LruBytes:
    """An LRU map bounded in bytes (and optionally in entries); thread-safe."""

    def __init__(self, budget_bytes: int, max_entries: int | None = None) -> None:
        self.budget_bytes = budget_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def pop(self, key: Any) -> Any:
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                return None
            self._used -= item[1]
            return item[0]

    def put(self, key: Any, value: Any, nbytes: int) -> bool:
        """Store (evicting the oldest as needed); False when the value alone exceeds the budget."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._used -= old[1]
            if nbytes > self.budget_bytes:
                return False
            self._items[key] = (value, nbytes)
            self._used += nbytes
            while self._used > self.budget_bytes or (
                self.max_entries is not None and len(self._items) > self.max_entries
            ):
                _, (_, freed) = self._items.popitem(last=False)
                self._used -= freed
            return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0


class PrefixCache:
    """KV entries per conversation (LRU) plus per-window encoder outputs, within one byte budget.

    An entry is *taken* out while a reply runs (generate extends it in place) and put back only when the
    reply ended cleanly or was cancelled between tokens; a failure leaves the conversation with no entry,
    so a half-updated cache is never reused.
    """

    def __init__(self, budget_bytes: int) -> None:
        # Encoder outputs are small (375 x hidden per window) and save the most time: a quarter of the budget.
        self.kv = _LruBytes(budget_bytes - budget_bytes // 4, MAX_CONVERSATIONS)
        self.encoded = _LruBytes(budget_bytes // 4)

    @property
    def budget_bytes(self) -> int:
        return self.kv.budget_bytes + self.encoded.budget_bytes

    def take(self, conversation: str) -> KvEntry | None:
        entry: KvEntry | None = self.kv.pop(conversation)
        return entry

    def keep(self, conversation: str, tokens: list[Identity], cache: Any) -> None:
        size = kv_bytes(cache)
        if not self.kv.put(conversation, KvEntry(tokens, cache, size), size):
            log.info("prefix cache: %.0f MB for one conversation exceeds the budget; not kept", size / 2**20)

    def clear(self) -> None:
        self.kv.clear()
        self.encoded.clear()


def auto_budget_bytes(weight_bytes: int) -> int:
    """The default cache budget: a share of the model's size, so it scales from tiny to Mini and beyond."""
    return max(MIN_AUTO_BUDGET, int(weight_bytes * AUTO_BUDGET_FRACTION))


@dataclass
class ReuseStats:
    """What the last reply reused: logged, and read by the benchmark and the tests."""

    conversation: str | None
    prompt_tokens: int
    reused_tokens: int
    audio_windows: int
    encoded_windows: int = 0  # windows the encoder actually ran on (the rest came from the cache)


class CachedAudioEncoder:
    """Stands in for a Voxtral model's ``get_audio_features``: windows it has seen come from the cache.

    The back-end says which windows the next call gets (``expect``), by the keys of their mel features;
    any call it was not told about runs the real encoder unchanged.
    """

    def __init__(self, original: Any, store: _LruBytes) -> None:
        self.original = original
        self.store = store
        self._expected: list[str] | None = None
        self._on_encoded: Any = None
        self.encoded_windows = 0

    def expect(self, keys: list[str], on_encoded: Any = None) -> None:
        self._expected, self._on_encoded, self.encoded_windows = list(keys), on_encoded, 0

    def forget(self) -> None:
        self._expected, self._on_encoded = None, None

    def __call__(self, input_features: Any, *args: Any, **kwargs: Any) -> Any:
        keys, on_encoded = self._expected, self._on_encoded
        self.forget()
        if keys is None or len(keys) != int(input_features.shape[0]):
            return self.original(input_features, *args, **kwargs)
        import torch

        found = [self.store.get(k) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        result = None
        if missing:
            result = self.original(input_features[missing], *args, **kwargs)
            pooled = result.pooler_output
            per_window = pooled.reshape(len(missing), -1, pooled.shape[-1])
            for j, i in enumerate(missing):
                window = per_window[j].clone()  # not a view: the batch tensor must not stay alive
                found[i] = window
                self.store.put(keys[i], window, int(window.nbytes))
            self.encoded_windows = len(missing)
        if result is None or len(missing) != len(keys):
            from transformers.modeling_outputs import BaseModelOutputWithPooling

            # Only the projected embeddings are used by the caller (VoxtralModel.forward reads pooler_output).
            result = BaseModelOutputWithPooling(pooler_output=torch.cat(found, dim=0))
        if on_encoded is not None:
            on_encoded()
        return result


@dataclass
class PreparedTurn:
    """One reply's reuse state between ``PrefixReuse.prepare`` and ``finish``."""

    conversation: str | None
    prompt: list[Identity]
    cache: Any
    generate_inputs: dict[str, Any]
    stats: ReuseStats


class PrefixReuse:
    """Drives reuse around ``model.generate``: plan and crop before, keep the extended cache after."""

    def __init__(self, model: Any, budget_bytes: int) -> None:
        self.model = model
        self.caches = PrefixCache(budget_bytes)
        self.audio_token_id = int(model.config.audio_token_id)
        inner = model.model
        self.encoder = CachedAudioEncoder(inner.get_audio_features, self.caches.encoded)
        # VoxtralModel.forward calls self.get_audio_features: an instance attribute is the one seam that
        # lets cached windows skip the encoder without copying the model's forward.
        inner.get_audio_features = self.encoder
        self.last: ReuseStats | None = None

    def prepare(self, conversation: str | None, inputs: Any, on_encoded: Any = None) -> PreparedTurn:
        """Plan the reuse for ``inputs`` (the processor's output, already on the model's device)."""
        from transformers import DynamicCache

        features = inputs.get("input_features")
        keys = [window_key(w) for w in features] if features is not None else []
        ids = inputs["input_ids"][0].tolist()
        prompt = identities(ids, keys, self.audio_token_id)
        entry = self.caches.take(conversation) if conversation is not None else None
        if entry is not None:
            plan = plan_reuse(entry.tokens, prompt, self.audio_token_id)
            cache = entry.cache
            surplus = cache.get_seq_length() - plan.reused_tokens
            if surplus > 0:
                cache.crop(-surplus)  # transformers 5.x: a negative count removes that many tokens
        else:
            plan = ReusePlan(0, 0, len(prompt))
            cache = DynamicCache(config=self.model.config)
        kwargs: dict[str, Any] = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        if features is not None and plan.skipped_windows < len(keys):
            kwargs["input_features"] = features[plan.skipped_windows :]
            self.encoder.expect(keys[plan.skipped_windows :], on_encoded)
        elif on_encoded is not None and keys:
            on_encoded()  # every window of this prompt is inside the reused prefix
        stats = ReuseStats(conversation, len(prompt), plan.reused_tokens, len(keys))
        return PreparedTurn(conversation, prompt, cache, kwargs, stats)

    def finish(self, turn: PreparedTurn, sequence: Sequence[int] | None) -> None:
        """After generate returned (ended or stopped between tokens): keep the cache for the next turn.

        ``sequence`` None means generate raised: the cache may be half-updated, so it is dropped (the
        conversation's entry was already taken out in ``prepare``).
        """
        self.encoder.forget()
        turn.stats.encoded_windows = self.encoder.encoded_windows
        self.encoder.encoded_windows = 0
        self.last = turn.stats
        if sequence is None or turn.conversation is None:
            return
        held = turn.cache.get_seq_length()
        tokens = (turn.prompt + list(sequence[len(turn.prompt) :]))[:held]
        self.caches.keep(turn.conversation, tokens, turn.cache)

    def clear(self) -> None:
        self.caches.clear()

