"""The view-models: QObjects with Signals and asyncSlots, each the UI's one door into one part of the core
(model, recording, replies and their voice, conversations, settings, listening), the frozen snapshots they
publish (status.py), and ``ViewModels``, which builds them around one config and model (composition.py).
Widgets (the modules beside this package) reach the core only through these."""

from __future__ import annotations

from typing import Any

__all__ = ["ViewModels"]


def __getattr__(name: str) -> Any:
    # Lazy: importing one snapshot module (status, talk_rules) must not build the whole Qt layer.
    if name == "ViewModels":
        from voxtral_desktop.ui.view_models.composition import ViewModels

        return ViewModels
    raise AttributeError(name)
