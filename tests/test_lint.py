"""Lint rules the project holds itself to, run with ruff (a dev dependency): no catch-all `except` that hides a
bug. A blind `except Exception`/`BaseException` must re-raise, log the traceback, or carry its reason."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from voxtral_desktop.testing.missing import missing

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["voxtral_desktop", "packaging", "benchmarks", "scripts"]
# "# noqa: BLE001" then a reason: "- whatever failed, the user gets a sentence" (at least a few words).
_MARKER = re.compile(r"#\s*noqa:[^#]*\bBLE001\b(?P<rest>.*)$")


def ruff() -> str:
    exe = Path(sys.executable).with_name("ruff")
    found = str(exe) if exe.exists() else shutil.which("ruff")
    if found is None:
        missing("ruff is not installed (pip install -e '.[dev]', or scripts/setup.sh)")
    return found  # type: ignore[return-value]


def test_no_catch_all_except_swallows_an_error_unexplained():
    result = subprocess.run(
        [ruff(), "check", "--select", "BLE", "--output-format", "concise", *CHECKED],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_catch_all_marker_says_why():
    unexplained = []
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if (m := _MARKER.search(line)) and len(re.findall(r"[A-Za-z]+", m["rest"])) < 3:
                    unexplained.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not unexplained, "a '# noqa: BLE001' needs its reason after it ('- why'):\n" + "\n".join(unexplained)
