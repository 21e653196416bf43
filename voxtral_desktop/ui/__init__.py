"""The PySide6 window: widgets, and the view-models through which they reach the core (see view_models.py)."""
