"""Where the app keeps per-user files: settings, logs, history, caches."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "voxtral-desktop"
# Points every per-user folder somewhere else (tests, portable installs); unset in normal use.
HOME_ENV = "VOXTRAL_DESKTOP_HOME"


def _dir(kind: str) -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home) / kind
    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "log": platformdirs.user_log_dir,
        "cache": platformdirs.user_cache_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def user_config_dir() -> Path:
    return _dir("config")


def user_config_file() -> Path:
    return user_config_dir() / "config.yaml"


def user_data_dir() -> Path:
    return _dir("data")


def user_log_dir() -> Path:
    return _dir("log")


def user_cache_dir() -> Path:
    return _dir("cache")
