"""The error tree: one root for everything a user may see, old import paths intact, typed remote errors."""

from __future__ import annotations

import pickle

import pytest

from voxtral_desktop.core import errors
from voxtral_desktop.core.errors import (
    GenerationError,
    HistoryError,
    HistoryWriteError,
    RemoteStatusError,
    StreamBroken,
    VoxtralError,
)

EVERY_ERROR = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize("cls", EVERY_ERROR, ids=lambda c: c.__name__)
def test_every_error_has_the_one_root_and_is_drawn_in_the_docstring(cls):
    assert issubclass(cls, VoxtralError)
    assert cls.__name__ in (errors.__doc__ or "")


def test_errors_that_were_value_and_lookup_errors_still_are():
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.AudioError, ValueError)
    assert issubclass(HistoryError, LookupError) and issubclass(HistoryWriteError, HistoryError)
    for remote in (errors.RemoteConnectionError, errors.RemoteTimeout, RemoteStatusError, StreamBroken):
        assert issubclass(remote, GenerationError)


@pytest.mark.parametrize(
    ("old_home", "name"),
    [
        ("voxtral_desktop.core.config", "ConfigError"),
        ("voxtral_desktop.core.audio", "AudioError"),
        ("voxtral_desktop.core.capture", "CaptureError"),
        ("voxtral_desktop.core.history", "HistoryError"),
        ("voxtral_desktop.core.secrets", "KeyringUnavailable"),
        ("voxtral_desktop.core.backends.base", "ModelLoadError"),
        ("voxtral_desktop.core.backends.base", "GenerationError"),
        ("voxtral_desktop.core.backends", "GenerationError"),
        ("voxtral_desktop", "ConfigError"),
    ],
)
def test_old_import_paths_give_the_same_classes(old_home, name):
    import importlib

    assert getattr(importlib.import_module(old_home), name) is getattr(errors, name)


def test_stream_broken_says_how_many_words_arrived_and_why():
    e = StreamBroken(3, "the server went away")
    assert str(e) == "the stream broke after 3 words: the server went away"
    assert (e.words, e.reason) == (3, "the server went away")


@pytest.mark.parametrize(
    "error",
    [RemoteStatusError("rate limited (429)", 429), StreamBroken(7, "no data"), HistoryWriteError("the disk is full")],
    ids=["status", "stream", "history"],
)
def test_typed_errors_keep_their_fields_across_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)


def test_offline_errors_are_load_and_speech_errors_and_keep_their_fields_across_pickling():
    model = errors.ModelUnavailableOffline(
        "offline: the model is not here", repo="mistralai/Voxtral-Mini-3B-2507", cause="ConnectError: x",
        size_bytes=9_400_000_000,
    )  # fmt: skip
    voice = errors.VoiceUnavailableOffline("offline: no voice", repo="rhasspy/piper-voices", cause="c", offline_mode=True)
    assert isinstance(model, errors.ModelLoadError) and isinstance(voice, errors.SpeechError)
    for error in (model, voice):
        assert isinstance(error, errors.HubUnreachable)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert (copy.repo, copy.cause, copy.size_bytes, copy.offline_mode) == (
            error.repo, error.cause, error.size_bytes, error.offline_mode
        )  # fmt: skip
