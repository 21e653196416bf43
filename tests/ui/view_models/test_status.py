"""The snapshots' helpers: the short model name in the header."""

from __future__ import annotations

from voxtral_desktop.ui.view_models.status import model_label


def test_model_labels_are_short():
    assert model_label("mistralai/Voxtral-Mini-3B-2507") == "Voxtral-Mini-3B-2507"
    assert model_label("/c/hub/models--mistralai--Voxtral-Small/snapshots/0123456789abcdef0123") == "Voxtral-Small"
    assert model_label("/cache/tiny-voxtral/8fe63d476de79eb5f627547d") == "tiny-voxtral"
