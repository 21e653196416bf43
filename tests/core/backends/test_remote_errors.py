"""Failures at the remote back-end's boundary become typed errors with sentences a user can act on.

The HTTP cases (statuses, timeouts, refused connections, broken streams) run against a real server in
test_remote.py; these cover what needs no server.
"""

from __future__ import annotations

import importlib
import json

import openai
import pytest

from voxtral_desktop.core.backends.remote_errors import check_base_url, error_detail, retry_after, translate
from voxtral_desktop.core.config import load_config
from voxtral_desktop.core.errors import GenerationError, StreamBroken

REMOTE = load_config(overrides={"remote": {"base_url": "http://gpu-box:8000/v1"}}).remote


def transport():
    """The SDK's HTTP library: httpx up to openai 3.6x, httpx2 after."""
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise AssertionError("the openai SDK has neither httpx nor httpx2")


def test_a_transport_failure_mid_stream_is_a_stream_broken_with_the_word_count():
    error = translate(transport().ReadError("boom"), REMOTE, stage="stream", words=4)
    assert isinstance(error, StreamBroken) and error.words == 4
    assert str(error) == "the stream broke after 4 words: ReadError: boom"


def test_a_transport_failure_before_any_reply_names_the_server():
    error = translate(transport().ConnectError("boom"), REMOTE, stage="connect")
    assert type(error) is GenerationError
    assert str(error) == "request to http://gpu-box:8000/v1 failed: ConnectError: boom"


@pytest.mark.parametrize("bug", [RuntimeError("boom"), ConnectionError("boom"), KeyError("choices")])
def test_anything_else_is_not_explained_as_a_remote_failure(bug):
    with pytest.raises(TypeError, match=f"not a remote failure: {type(bug).__name__}"):
        translate(bug, REMOTE, stage="stream", words=4)


def test_an_sdk_error_keeps_its_own_text():
    assert str(translate(openai.OpenAIError("no key given"), REMOTE)) == "no key given"
    broken = translate(openai.OpenAIError("no key given"), REMOTE, stage="stream", words=2)
    assert isinstance(broken, StreamBroken) and broken.reason == "no key given"


def test_a_malformed_event_quotes_what_arrived():
    try:
        json.loads("{not json")
    except json.JSONDecodeError as e:
        error = translate(e, REMOTE, stage="stream", words=3)
    assert str(error).startswith("malformed event from the server after 3 words: not JSON")
    assert "{not json" in str(error)


def test_scrub_removes_the_key_from_every_quoted_text():
    failure = transport().ConnectError("bad key sk-123456")
    error = translate(failure, REMOTE, scrub=lambda t: t.replace("sk-123456", "***"))
    assert "sk-123456" not in str(error) and "***" in str(error)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"message": "  Model   not found "}, "Model not found"),
        ({"detail": "Not Found"}, "Not Found"),
        ({"error": {"code": 7}}, '{"code": 7}'),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (None, ""),
    ],
    ids=["openai", "fastapi", "nested", "text", "none"],
)
def test_error_detail_reads_the_common_body_shapes(body, detail):
    assert error_detail(body) == detail


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after-ms": "1500"}, "1.5 s"), ({"retry-after": "20"}, "20 s"), ({}, None)],
    ids=["ms", "seconds", "none"],
)
def test_retry_after_reads_the_wait_a_429_asks_for(headers, wait):
    assert retry_after(headers) == wait


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://h/v1", "http://"])
def test_a_base_url_must_be_http_with_a_host(url):
    with pytest.raises(GenerationError, match="must be an http:// or https:// URL"):
        check_base_url(url)
