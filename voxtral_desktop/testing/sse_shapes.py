"""The SSE events real OpenAI-compatible servers stream, each in its own dialect, for the test server."""

from __future__ import annotations

import time
from typing import Any

# Stream shapes real servers send, from their own code, docs and tests:
# - "openai": role delta with "" content, content deltas, a last delta {} with finish_reason, [DONE].
# - "vllm": every choice carries stop_reason; the last content event carries finish_reason, then (with
#   stream_options.include_usage) a usage event whose choices list is EMPTY, then [DONE]
#   (vllm/entrypoints/openai/protocol.py: ChatCompletionResponseStreamChoice, UsageInfo).
# - "vllm-continuous-usage": as vllm, with usage on every event (stream_options.continuous_usage_stats).
# - "mistral": Mistral's API: usage on the last event, beside finish_reason (stop, length, model_length,
#   error, tool_calls), and content that may be a list of chunks ({"type": "text", "text": ...}).
# - "llama-server": llama.cpp's server: the first delta is {"role": "assistant", "content": null}, every
#   event has system_fingerprint, and the last one carries usage AND a llama.cpp "timings" object.
SHAPES = ("openai", "vllm", "vllm-continuous-usage", "mistral", "llama-server")


def chunk_event(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


class Dialect:
    """Builds the events of one streamed reply in a server's own shape (see SHAPES)."""

    def __init__(self, shape: str, model: str, pieces: int) -> None:
        if shape not in SHAPES:
            raise ValueError(f"unknown stream shape {shape!r}; use one of {', '.join(SHAPES)}")
        self.shape = shape
        self.model = model
        self.prompt_tokens = 412
        self.sent = 0

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.sent,
            "total_tokens": self.prompt_tokens + self.sent,
        }

    def _event(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        event = chunk_event(self.model, delta, finish_reason)
        choice = event["choices"][0]
        if self.shape.startswith("vllm"):
            choice["stop_reason"] = None
            if self.shape == "vllm-continuous-usage":
                event["usage"] = self._usage()
        elif self.shape == "mistral":
            del choice["logprobs"]
        elif self.shape == "llama-server":
            del choice["logprobs"]
            event["system_fingerprint"] = "b6097-9515c613"
        return event

    def first(self) -> dict[str, Any]:
        content = None if self.shape == "llama-server" else ""
        return self._event({"role": "assistant", "content": content})

    def content(self, piece: str) -> dict[str, Any]:
        self.sent += 1
        if self.shape == "mistral" and self.sent % 2 == 0:
            return self._event({"content": [{"type": "text", "text": piece}]})
        return self._event({"content": piece})

    def last(self, finish_reason: str) -> list[dict[str, Any]]:
        if self.shape.startswith("vllm"):
            events = [self._event({"content": ""}, finish_reason)]
            usage = {**chunk_event(self.model, {}), "choices": [], "usage": self._usage()}
            return [*events, usage]
        if self.shape == "mistral":
            return [{**self._event({"content": ""}, finish_reason), "usage": self._usage()}]
        if self.shape == "llama-server":
            timings = {
                "prompt_n": self.prompt_tokens,
                "prompt_ms": 203.378,
                "prompt_per_token_ms": 203.378 / self.prompt_tokens,
                "prompt_per_second": self.prompt_tokens / 0.203378,
                "predicted_n": self.sent,
                "predicted_ms": 933.63,
                "predicted_per_token_ms": 933.63 / max(self.sent, 1),
                "predicted_per_second": self.sent / 0.93363,
            }
            return [{**self._event({}, finish_reason), "usage": self._usage(), "timings": timings}]
        return [self._event({}, finish_reason)]
