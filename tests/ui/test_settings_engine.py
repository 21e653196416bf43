"""Settings > Engine: which engine runs Voxtral here and why, and what it will download and take in memory, shown
before anything is downloaded; llama.cpp's own settings saved like the others."""

from __future__ import annotations

from ui_helpers import scripted_model

from voxtral_desktop.core.config import load_config


def choose(combo, value) -> None:
    combo.setCurrentIndex(combo.findData(value))


def test_the_engine_page_says_what_each_engine_costs_before_any_download(qtbot, make_app):
    app = make_app(scripted_model(), model_factory=lambda cfg: scripted_model())
    dialog = app.window.open_settings()
    dialog.show_page(dialog.page_of("backend"))
    assert dialog.page_of("llamacpp.quantization") == dialog.page_of("backend")
    note = dialog.engine_note
    assert note.isVisibleTo(dialog) and note.text().startswith("Here: ")  # auto, the default, says its pick

    choose(dialog.inputs["backend"], "llamacpp")
    assert "Q4_K_M: about 3 GB to download once, about 5 GB of memory" in note.text()
    choose(dialog.inputs["llamacpp.quantization"], "Q8_0")
    assert "Q8_0: about 5 GB to download once, about 7 GB of memory" in note.text()
    choose(dialog.inputs["backend"], "local")
    assert "transformers" in note.text() and "about 9 GB to download once" in note.text()
    choose(dialog.inputs["backend"], "openai")
    assert not note.isVisibleTo(dialog)  # a server downloads nothing here

    choose(dialog.inputs["backend"], "llamacpp")
    dialog.inputs["llamacpp.threads"].setText("3")
    dialog.save()
    saved = load_config()
    assert (saved.backend, saved.llamacpp.quantization, saved.llamacpp.threads) == ("llamacpp", "Q8_0", 3)
