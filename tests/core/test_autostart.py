"""The autostart entry: written where desktop sessions look, starting this installation hidden; removed again;
a user's own entry of the same name is never touched."""

from __future__ import annotations

import configparser
import shlex

from voxtral_desktop.core import autostart


def read_entry(path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_turning_autostart_on_writes_an_entry_that_starts_this_installation_hidden(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    command = ["/opt/My Apps/python3", "-m", "voxtral_desktop", "--hidden"]

    assert autostart.apply(True, command) is None

    path = tmp_path / "config" / "autostart" / "voxtral-desktop.desktop"
    entry = read_entry(path)
    assert entry["Type"] == "Application"
    # The Exec line, unquoted the way the Desktop Entry spec says (double quotes), gives the command back.
    assert shlex.split(entry["Exec"]) == command
    assert entry["Exec"].endswith("--hidden")


def test_turning_it_off_removes_the_entry_and_leaves_a_users_own_file_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = autostart.entry_path()
    assert autostart.apply(True, ["voxtral-desktop", "--hidden"]) is None
    assert autostart.apply(False) is None
    assert not path.exists()
    assert autostart.apply(False) is None  # nothing to remove is fine

    path.write_text("[Desktop Entry]\nType=Application\nExec=my-own-wrapper\n", encoding="utf-8")
    for enabled in (True, False):
        why = autostart.apply(enabled, ["voxtral-desktop", "--hidden"])
        assert why is not None and "not written by Voxtral Desktop" in why
        assert "my-own-wrapper" in path.read_text(encoding="utf-8")


def test_a_folder_that_cannot_be_written_is_said_in_words(tmp_path, monkeypatch):
    blocker = tmp_path / "config"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))

    why = autostart.apply(True, ["voxtral-desktop", "--hidden"])

    assert why is not None and why.startswith("could not write")


def test_the_default_command_starts_the_app_hidden():
    assert autostart.launch_command()[-1] == autostart.HIDDEN_FLAG
