"""The dependency floors in pyproject.toml are the versions the floor test installed, and this venv meets them."""

from __future__ import annotations

import os
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


# -- the lock: the tested set every install gets ------------------------------------------------------------

# scripts/update-lock.sh runs the suite on a candidate lock before it replaces this one.
LOCK = Path(os.environ.get("VOXTRAL_LOCK") or ROOT / "requirements" / "lock.txt")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) \\$")


def locked() -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes) from requirements/lock.txt."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        if m := _PIN.match(line):
            current = canonical(m.group(1))
            pins[current] = (m.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            pytest.fail(f"requirements/lock.txt: not an exact pin with hashes: {line!r}")
    return pins


def torch_tested() -> str:
    lines = [l for l in (ROOT / "requirements" / "torch.txt").read_text().splitlines() if l.startswith("torch==")]
    assert len(lines) == 1
    return lines[0].removeprefix("torch==")


def all_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *(s for extra in project["optional-dependencies"].values() for s in extra)]


def test_the_lock_pins_every_dependency_with_hashes_within_pyproject_ranges():
    from packaging.requirements import Requirement

    pins = locked()
    assert all(hashes > 0 for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    for spec in all_requirements():
        req = Requirement(spec)
        name = canonical(req.name)
        if name == "torch":  # its CPU and CUDA wheels differ: pinned by version in requirements/torch.txt
            assert "torch" not in pins and req.specifier.contains(torch_tested())
            continue
        assert name in pins, f"{spec} is not in requirements/lock.txt: run scripts/update-lock.sh --no-upgrade"
        assert req.specifier.contains(pins[name][0], prereleases=True), f"{spec}: locked {pins[name][0]}"
    # The lock carries no CUDA-only packages (torch is resolved against its CPU wheel).
    assert not [n for n in pins if n.startswith("nvidia-") or n == "triton"]


# scripts/setup.sh's CPU_ONLY_PACKAGES: installed only where there is no NVIDIA GPU.
CPU_ONLY = {"xllamacpp"}


def torch_on_cuda() -> bool:
    import torch

    return torch.version.cuda is not None


def test_this_environment_is_the_locked_set():  # scripts/test-floor.sh deselects it: it runs on the floors
    """scripts/setup.sh (and so CI, start.sh and packaging/build.sh) installs exactly the lock."""
    different = {}
    for name, (version, _) in locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None and name in CPU_ONLY and torch_on_cuda():
            continue  # setup.sh leaves the llama.cpp engine out where transformers runs on CUDA
        if installed != version:
            different[name] = (installed, version)
    assert not different, f"installed vs locked: {different}; run scripts/setup.sh"
    assert metadata.version("torch").split("+")[0] == torch_tested()
