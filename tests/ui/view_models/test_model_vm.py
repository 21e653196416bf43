"""The model's state in the window: loading, downloading with progress, ready (with a CPU note), failed with advice,
and a reload when its settings change."""

from __future__ import annotations

import threading

import pytest

from ui_helpers import scripted_model

from voxtral_desktop.core.backends.base import ProgressCallback
from voxtral_desktop.core.config import Config, load_config
from voxtral_desktop.core.errors import ModelLoadError
from voxtral_desktop.core.model import LoadPhase, VoxtralModel
from voxtral_desktop.testing.fakes import ScriptedBackend

DOWNLOADING, FAILED, LOADING, READY = LoadPhase.DOWNLOADING, LoadPhase.FAILED, LoadPhase.LOADING, LoadPhase.READY


class GatedBackend(ScriptedBackend):
    """Loads only when told to, reporting download progress first; says it runs on the CPU."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.go = threading.Event()
        self.reported = threading.Event()
        self.device = "cpu"
        self.fail: str | None = None

    def load(self, progress: ProgressCallback | None = None) -> None:
        assert progress is not None
        progress(DOWNLOADING, 0.25)
        self.reported.set()
        assert self.go.wait(10)
        if self.fail:
            raise ModelLoadError(self.fail)
        progress(LOADING, None)
        self.loaded = True


def test_a_missing_model_folder_fails_with_advice(qtbot, make_app, tmp_path):
    missing = tmp_path / "no-such-model"
    cfg = load_config(overrides={"model": {"id": str(missing)}})
    app = make_app(config=cfg, wait_ready=False)
    window = app.window
    qtbot.waitUntil(lambda: app.vms.model.status.phase == FAILED, timeout=10000)
    banner = window.banner("model")
    assert banner is not None
    assert "does not exist" in banner.text.text() and "folder" in banner.text.text()
    assert set(banner.buttons) == {"Open Settings", "Retry"}
    assert window.status_pill.text.text() == "Model not loaded"
    assert not window.ptt.isEnabled()
    assert "until the model loads" in window.ptt.toolTip()
    # "Open Settings" goes straight to where the folder is chosen.
    banner.buttons["Open Settings"].click()
    dialog = window.settings_dialog
    qtbot.waitExposed(dialog)
    assert dialog.inputs["model.id"].text() == str(missing)
    dialog.reject()


def test_download_progress_then_ready_with_a_cpu_note(qtbot, make_app):
    backend = GatedBackend(pieces=["Hi."])
    app = make_app(VoxtralModel(load_config(), backend=backend), wait_ready=False)
    window = app.window
    qtbot.waitUntil(lambda: app.vms.model.status.phase == DOWNLOADING, timeout=5000)
    assert window.status_pill.text.text() == "Downloading model…"
    progress = window.status_pill.progress
    assert progress.isVisible() and progress.value() == 250
    assert "25%" in app.vms.model.status.message
    assert not window.ptt.isEnabled() and "once the model has loaded" in window.ptt.toolTip()
    backend.go.set()
    qtbot.waitUntil(lambda: app.vms.model.status.phase == READY, timeout=5000)
    assert window.status_pill.text.text() == "Ready · CPU"
    assert not progress.isVisible()
    assert "replies will be slow" in window.model_name.text()
    assert window.ptt.isEnabled()


class MeasuredCpuBackend(ScriptedBackend):
    """Loads at once on the CPU and, like the local back-end's probe, knows what a reply will cost."""

    def __init__(self, first_words_s: float, notice: str) -> None:
        super().__init__(pieces=["Hi."])
        self.device = "cpu"
        self._first_words_s, self._notice = first_words_s, notice

    @property
    def first_words_s(self) -> float | None:
        return self._first_words_s

    @property
    def load_notice(self) -> str:
        return self._notice


@pytest.mark.parametrize(("first_words_s", "header", "warned"), [
    (27.4, "on the CPU, first words in ~27 s", True),
    (4.6, "on the CPU, first words in ~5 s", False),
    (0.8, "on the CPU", False),
])
def test_the_measured_cost_of_a_reply_is_said_before_one_talks(qtbot, make_app, first_words_s, header, warned):
    notice = f"On this CPU (bfloat16) a question should get its first words after about {first_words_s:.0f} s."
    app = make_app(VoxtralModel(load_config(), backend=MeasuredCpuBackend(first_words_s, notice)), wait_ready=False)
    window = app.window
    qtbot.waitUntil(lambda: app.vms.model.status.phase == READY, timeout=5000)
    assert window.model_name.text().endswith(header) and "slow" not in window.model_name.text()
    banner = window.banner("cost")
    if warned:  # a wait that long is said up front, in full, where the user looks
        assert banner is not None and banner.isVisible() and banner.text.text() == notice
    else:
        assert banner is None
    assert notice in window.model_name.toolTip()


def test_a_load_error_is_shown_and_retry_loads_again(qtbot, make_app):
    backend = GatedBackend()
    backend.fail = "offline and not cached: choose a local folder in Settings"
    app = make_app(VoxtralModel(load_config(), backend=backend), wait_ready=False)
    backend.go.set()
    qtbot.waitUntil(lambda: app.vms.model.status.phase == FAILED, timeout=5000)
    assert "choose a local folder" in app.window.banner("model").text.text()
    backend.fail = None
    app.window.banner("model").buttons["Retry"].click()
    qtbot.waitUntil(lambda: app.vms.model.status.phase == READY, timeout=5000)
    assert app.window.banner("model") is None


def test_changing_the_model_in_settings_reloads_it_in_the_background(qtbot, make_app):
    built: list[Config] = []

    def factory(cfg: Config) -> VoxtralModel:
        built.append(cfg)
        backend = GatedBackend(pieces=["Reloaded ", "model ", "speaking."])
        backend.go.set()
        return VoxtralModel(cfg, backend=backend)

    first = scripted_model(["Old ", "model."])
    app = make_app(first, model_factory=factory)
    states: list[LoadPhase] = []
    app.vms.model.statusChanged.connect(lambda status: states.append(status.phase))
    app.vms.settings.save({"model": {"device": "cpu"}})
    qtbot.waitUntil(lambda: states[-1:] == [READY] and len(built) == 1, timeout=5000)
    assert LOADING in states or DOWNLOADING in states
    assert built[0] is app.vms.config and built[0].model.device == "cpu"
    assert app.vms.model.model is not first
    # Only the model's own settings reload it.
    app.vms.settings.save({"streaming": {"max_new_tokens": 12}})
    qtbot.wait(100)
    assert len(built) == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    "damage,filename,what",
    [
        ("config.json", "config.json", "not valid JSON"),
        ("tekken.json", "tekken.json", "missing"),
        ("model.safetensors", "model.safetensors", "truncated"),
    ],
)
def test_a_broken_model_folder_is_named_in_the_window(qtbot, make_app, tiny_model_dir, tmp_path, damage, filename, what):
    """The real local back-end on a damaged copy of the tiny model: the banner names the file and what to do."""
    import os
    import shutil

    from PySide6.QtWidgets import QLabel

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    if damage == "config.json":
        (folder / damage).write_text('{"model_type": "voxtral", ')
    elif damage == "tekken.json":
        (folder / damage).unlink()
    else:
        os.truncate(folder / damage, (folder / damage).stat().st_size // 2)
    config = load_config(overrides={"model": {"id": str(folder)}, "speech": {"voice": "system", "engine": "mock"}})
    app = make_app(config=config, wait_ready=False)
    qtbot.waitUntil(lambda: app.window.banner("model") is not None, timeout=60000)
    texts = " ".join(label.text() for label in app.window.banner("model").findChildren(QLabel))
    assert "could not be loaded" in texts and filename in texts and what in texts, texts
    assert str(folder) in texts and "download" in texts  # where, and what to do
    assert not app.window.ptt.isEnabled()


def test_offline_the_banner_says_it_plainly_with_the_librarys_words_behind_details(
    qtbot, make_app, tmp_path, monkeypatch, caplog
):
    """The real local back-end and hub with the default model, offline (the tests run with HF_HUB_OFFLINE=1)
    and an empty hub cache: the banner speaks as a person would; the library's error waits behind Details."""
    import logging

    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QLabel

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # never the developer's cache
    caplog.set_level(logging.INFO)
    config = load_config(overrides={"backend": "local", "speech": {"voice": "system", "engine": "mock"}})
    assert config.model.id == "mistralai/Voxtral-Mini-3B-2507"
    app = make_app(config=config, wait_ready=False)
    window = app.window
    qtbot.waitUntil(lambda: window.banner("model") is not None, timeout=20000)
    banner = window.banner("model")
    shown = banner.text.text()
    assert "could not be loaded" in banner.title.text()
    assert "offline" in shown and "about 9 GB" in shown and "hf download mistralai/Voxtral-Mini-3B-2507" in shown
    assert "Settings > Model" in shown and "--model" in shown
    visible = " ".join(label.text() for label in banner.findChildren(QLabel) if label.isVisible())
    for library in ("Got:", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "huggingface_hub", "try again.."):
        assert library not in visible, visible

    # Details: closed at first, reached with the keyboard (Shift+Tab from the banner's first button), opened
    # with Enter (Space is push-to-talk anywhere in the window), showing the library's own error.
    toggle, details = banner.details_toggle, banner.details
    assert toggle is not None and details is not None
    assert toggle.isVisible() and not details.isVisible() and toggle.text().startswith("Details")
    first_button = banner.buttons["Open Settings"]
    first_button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(first_button.hasFocus, timeout=2000)
    qtbot.keyClick(first_button, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(toggle.hasFocus, timeout=2000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(details.isVisible, timeout=2000)
    assert toggle.text().startswith("Details ▾")
    raw = details.toPlainText()
    assert "LocalEntryNotFoundError" in raw and "OfflineModeIsEnabled" in raw
    qtbot.keyClick(toggle, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: not details.isVisible(), timeout=2000)

    # The log has it too: what the user was told, and the library's exception with its cause.
    told = [r.getMessage() for r in caplog.records if r.name == "voxtral_desktop.ui.view_models.model_vm"]
    assert any("model load failed" in m and "about 9 GB" in m for m in told), told
    raised = [r.exc_info[1] for r in caplog.records if r.exc_info and r.name == "voxtral_desktop.core.hub"]
    assert raised and isinstance(raised[0], LocalEntryNotFoundError)
    assert isinstance(raised[0].__cause__, OfflineModeIsEnabled)


class LlamaCppLikeBackend(MeasuredCpuBackend):
    """A CPU engine that measures nothing at load (llama.cpp: quantized, no probe)."""

    @property
    def first_words_s(self) -> float | None:
        return None

    @property
    def engine_name(self) -> str:
        return "llama.cpp"


def test_the_header_names_the_llamacpp_engine_without_calling_it_slow(qtbot, make_app):
    notice = "Running on llama.cpp (model.gguf, 2 threads). Chosen because backend is auto and there is no GPU here."
    app = make_app(VoxtralModel(load_config(), backend=LlamaCppLikeBackend(0.0, notice)), wait_ready=False)
    qtbot.waitUntil(lambda: app.vms.model.status.phase == READY, timeout=5000)
    assert app.vms.model.status.engine == "llama.cpp"
    assert app.window.model_name.text().endswith("llama.cpp on the CPU")
    assert notice in app.window.model_name.toolTip()
