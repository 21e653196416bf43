"""Per-user folders: the platform's own, or all under VOXTRAL_DESKTOP_HOME when it is set."""

from __future__ import annotations

import os

from voxtral_desktop.core import paths


def test_user_dir_follows_the_override_env(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    assert paths.user_config_file() == tmp_path / "config" / "config.yaml"
    assert os.fspath(paths.user_log_dir()).startswith(str(tmp_path))
