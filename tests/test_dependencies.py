"""The dependency floors in pyproject.toml are the versions the floor test installed, and this venv meets them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SPEC = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, str]:
    """Package -> its floor, for every runtime and dev dependency."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors: dict[str, str] = {}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        name, _, constraints = _SPEC.match(spec).groups()  # type: ignore[union-attr]
        lows = [c.strip()[2:] for c in constraints.split(",") if c.strip().startswith(">=")]
        assert len(lows) == 1, f"{spec}: every dependency needs exactly one tested floor (>=)"
        floors[canonical(name)] = lows[0]
    return floors


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "scripts" / "floor-requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name.split("[")[0])] = version
    return pins


def release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.match(r"\d+(\.\d+)*", version).group(0).split("."))  # type: ignore[union-attr]


def test_every_floor_is_the_version_the_floor_test_installed():
    floors, pins = declared(), pinned()
    assert set(floors) == set(pins)
    # A floor is what was tested: 1.26 in pyproject.toml means 1.26.0 was installed and passed.
    mismatched = {n: (floors[n], pins[n]) for n in floors if release(floors[n]) != release(pins[n])[: len(release(floors[n]))]}
    assert not mismatched, f"pyproject floor vs tested pin: {mismatched}"


@pytest.mark.parametrize("name", sorted(declared()))
def test_this_environment_meets_the_floor(name):
    installed = metadata.version(name)
    assert release(installed) >= release(declared()[name]), f"{name} {installed} is older than the floor"
