"""A missing tool and a skipped test: they fail a run that must prove everything (CI=true or
VOXTRAL_REQUIRE_ALL=1), and skip with their reason elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from voxtral_desktop.testing.missing import missing

SKIPPING = """
import pytest

def test_runs():
    assert True is not False

def test_skips():
    pytest.skip("no frobnicator on this machine")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert 1 == 2
"""


def _run(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SKIPPING)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "VOXTRAL_REQUIRE_ALL")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "voxtral_desktop.testing.no_skips", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("env", [{"CI": "true"}, {"VOXTRAL_REQUIRE_ALL": "1"}])
def test_a_skipped_test_fails_a_run_that_must_prove_everything(tmp_path, env):
    out = _run(tmp_path, **env)
    assert out.returncode == 1, out.stdout
    assert "1 failed, 1 passed, 1 xfailed" in out.stdout, out.stdout
    assert "no frobnicator on this machine" in out.stdout


SKIPPED_MODULE = """
import pytest

frobnicator = pytest.importorskip("frobnicator_not_installed")

def test_uses_it():
    assert frobnicator
"""


@pytest.mark.parametrize("env", [{"CI": "true"}, {}], ids=["ci", "developer"])
def test_a_module_skipped_while_collected_fails_a_run_that_must_prove_everything(tmp_path, env):
    (tmp_path / "test_sample.py").write_text(SKIPPED_MODULE)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "VOXTRAL_REQUIRE_ALL")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "voxtral_desktop.testing.no_skips", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        env={**clean, **env}, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    if env:
        assert out.returncode != 0, out.stdout
        assert "frobnicator_not_installed" in out.stdout and "1 error" in out.stdout, out.stdout
    else:
        assert out.returncode in (0, 5) and "1 skipped" in out.stdout, out.stdout  # 5: no test ran


def test_a_developer_run_still_skips(tmp_path):
    out = _run(tmp_path)
    assert out.returncode == 0, out.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in out.stdout, out.stdout


@pytest.mark.parametrize("name,value", [("CI", "true"), ("VOXTRAL_REQUIRE_ALL", "1")])
def test_missing_fails_when_everything_must_run(monkeypatch, name, value):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VOXTRAL_REQUIRE_ALL", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match="pactl not installed"):
        missing("pactl not installed")
    monkeypatch.setenv(name, "")
    with pytest.raises(pytest.skip.Exception, match="pactl not installed"):
        missing("pactl not installed")
