"""What a test does when a tool it needs is absent: fail under CI=true or VOXTRAL_REQUIRE_ALL=1 (a run that
must prove everything cannot go green without it), skip with the reason elsewhere."""

from __future__ import annotations

import os
from typing import NoReturn


REQUIRE_ALL_ENV = "VOXTRAL_REQUIRE_ALL"


def under_ci() -> bool:
    """True when every test must run: CI=true, or VOXTRAL_REQUIRE_ALL=1 on a developer's machine."""
    return os.environ.get("CI", "").lower() in ("true", "1") or os.environ.get(REQUIRE_ALL_ENV, "") not in ("", "0")


def missing(reason: str) -> NoReturn:
    import pytest

    if under_ci():
        pytest.fail(f"{reason} (CI=true / {REQUIRE_ALL_ENV}=1: a missing tool fails the test)")
    print(f"\nskipping: {reason}")
    pytest.skip(reason)
