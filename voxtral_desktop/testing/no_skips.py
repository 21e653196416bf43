"""A pytest plugin: under CI=true (or VOXTRAL_REQUIRE_ALL=1) a skipped test is reported as a failure, so a run
that must prove everything cannot go green on tests that never ran. That covers a whole module skipped while
it is collected (a module-level `pytest.importorskip`), which never reaches the per-test report. Expected
failures (xfail) are left alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from voxtral_desktop.testing.missing import REQUIRE_ALL_ENV, under_ci


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not under_ci():
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true / {REQUIRE_ALL_ENV}=1, which must not happen: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not under_ci():
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"{collector.nodeid} skipped while collected under CI=true / {REQUIRE_ALL_ENV}=1: {reason}"
