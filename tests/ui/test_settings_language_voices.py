"""Settings > Voice, one voice per language (issue 21): each language Voxtral speaks lists automatic, its voices on
this computer and the hub's with their download size; the choice is saved as speech.language_voices."""

from __future__ import annotations

import json

import yaml
from ui_helpers import scripted_model

from voxtral_desktop.core import paths
from voxtral_desktop.core.speech.catalogue import voices_dir
from voxtral_desktop.testing.language_voices import register_joe_as


def hub_list_with_an_italian_voice() -> None:
    files = {"it/it_IT/paola/medium/it_IT-paola-medium.onnx": {"size_bytes": 63_200_000},
             "it/it_IT/paola/medium/it_IT-paola-medium.onnx.json": {"size_bytes": 5_000}}
    entry = {"key": "it_IT-paola-medium", "name": "paola", "quality": "medium", "files": files,
             "language": {"code": "it_IT", "name_english": "Italian", "country_english": "Italy"}}
    voices_dir().mkdir(parents=True, exist_ok=True)
    (voices_dir() / "voices.json").write_text(json.dumps({entry["key"]: entry}), encoding="utf-8")


def test_each_language_lists_its_voices_and_the_choice_is_saved(qtbot, make_app, joe_voice):
    french = register_joe_as("fr")
    hub_list_with_an_italian_voice()
    app = make_app(scripted_model())
    dialog = app.window.open_settings()
    editor = dialog.inputs["speech.language_voices"]
    assert list(editor.combos) == ["en", "es", "fr", "pt", "hi", "de", "nl", "it"]
    items = {lang: [combo.itemText(i) for i in range(combo.count())] for lang, combo in editor.combos.items()}
    assert items["fr"] == ["Automatic",
                           "fr (FR) · joefr · medium"]
    assert items["it"][1:] == ["Italian (Italy) · paola · medium (63 MB download)"]
    assert items["de"] == items["fr"][:1]
    assert dialog.inputs["speech.follow_language"].isChecked()
    assert dialog.changes() == {}

    editor.combos["fr"].setCurrentIndex(1)
    editor.combos["it"].setCurrentIndex(1)
    assert dialog.changes() == {"speech": {"language_voices": [f"fr={french}", "it=it_IT-paola-medium"]}}
    dialog.save()
    qtbot.waitUntil(lambda: app.window.settings_dialog is None, timeout=3000)
    on_disk = yaml.safe_load(paths.user_config_file().read_text())
    assert on_disk["speech"]["language_voices"] == [f"fr={french}", "it=it_IT-paola-medium"]
    assert app.vms.config.speech.language_voices == [f"fr={french}", "it=it_IT-paola-medium"]

    again = app.window.open_settings()
    assert again.inputs["speech.language_voices"].value() == [f"fr={french}", "it=it_IT-paola-medium"]
    assert again.changes() == {}
    again.reject()
