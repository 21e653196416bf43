"""Real storage faults for tests: a tiny tmpfs that fills up, a folder turned read-only, a held SQLite lock."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


class Unavailable(RuntimeError):
    """This machine cannot stage the fault (mounting needs root)."""


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int, *, inodes: int | None = None) -> Iterator[Path]:
    """A RAM disk of ``size_bytes`` at ``path``: writes past its size fail with ENOSPC, as on a full disk.
    ``inodes`` caps how many files and folders it holds (tmpfs makes empty ones even when full)."""
    if not can_mount():
        raise Unavailable("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_bytes},mode=0755" + (f",nr_inodes={inodes}" if inodes is not None else "")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk holding ``folder`` is full; returns it (delete it to free the space)."""
    filler = folder / "filler.bin"
    with contextlib.suppress(OSError), filler.open("ab") as f:
        for block in (1 << 16, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * block)
                    f.flush()
    return filler


@contextlib.contextmanager
def full_disk(path: Path, *, no_new_files: bool = False) -> Iterator[Path]:
    """A small disk at ``path`` with no byte left. tmpfs still makes empty files and folders when full;
    ``no_new_files`` takes that away too (as on a full ext4 disk, where a new folder needs a block)."""
    with tmpfs(path, 1 << 20, inodes=64 if no_new_files else None) as disk:
        fill(disk)
        if no_new_files:
            with contextlib.suppress(OSError):
                for n in range(64):
                    (disk / f"filler-{n}").touch()
        yield disk


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and its files read-only for this process, for real.

    Root ignores file permissions, so as root ``folder`` must be a mount point (see ``tmpfs``) and is
    remounted read-only; otherwise the permission bits are cleared.
    """
    if can_mount():
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True, capture_output=True)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("CREATE TABLE IF NOT EXISTS other_program (x)")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


@contextlib.contextmanager
def locked_by_another_process(db_path: Path) -> Iterator[None]:
    """Another process holds the database's write lock until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write("\n")
                proc.stdin.close()
        proc.wait(timeout=30)
