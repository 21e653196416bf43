"""The theme's cached drawing (the combo-box arrow): a full disk costs the arrow once, never for good."""

from __future__ import annotations

from PySide6.QtGui import QImage

from voxtral_desktop.core import paths
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.small_disk import Unavailable, fill, tmpfs
from voxtral_desktop.ui.theme import apply_theme

ARROW = ("cache", "ui", "chevron-v1.png")


def test_a_full_disk_costs_the_combo_arrow_for_one_start_only(qapp, tmp_path, monkeypatch):
    try:
        with tmpfs(tmp_path / "disk", 1 << 20) as disk:
            monkeypatch.setenv(paths.HOME_ENV, str(disk / "home"))
            arrow = disk.joinpath("home", *ARROW)
            filler = fill(disk)
            apply_theme(qapp)  # no room: the window opens without the arrow
            assert not arrow.exists(), "a half-written arrow is left for the next start to use"
            assert "chevron" not in qapp.styleSheet()
            filler.unlink()  # the user frees some space; the next start draws it
            apply_theme(qapp)
            assert not QImage(str(arrow)).isNull() and arrow.as_posix() in qapp.styleSheet()
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")


def test_an_empty_arrow_left_by_an_older_version_is_drawn_again(qapp, isolated_home):
    arrow = isolated_home.joinpath(*ARROW)
    arrow.parent.mkdir(parents=True, exist_ok=True)
    arrow.write_bytes(b"")  # what an older version left when the disk was full
    apply_theme(qapp)
    assert not QImage(str(arrow)).isNull()
