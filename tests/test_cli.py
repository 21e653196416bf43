"""The command line: flags become settings, `respond` streams JSON chunk lines, `history` lists and exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxtral_desktop.cli import build_parser, flag_overrides
from voxtral_desktop.core import secrets
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.testing.fakes import tone
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.small_disk import Unavailable, fill, full_disk, tmpfs
from voxtral_desktop.testing.openai_server import OpenAICompatibleServer, Script, server_pieces

REPLY = "The weather is sunny today, with a light breeze from the west. Anything else?"
SECRET = "sk-test-Zq8pL2vX9mN4"


@pytest.fixture
def server():
    with OpenAICompatibleServer() as s:
        s.script = Script(pieces=server_pieces(REPLY))
        yield s


def check_contract(chunks: list[dict]) -> None:
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]


def shown_text(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["success"] and c["text"])


def test_cli_flags_map_to_settings():
    parse = build_parser().parse_args
    args = parse(["respond", "a.wav", "--backend", "openai", "--base-url", "http://h:1/v1", "--model", "m"])
    assert flag_overrides(args) == {"backend": "openai", "remote": {"base_url": "http://h:1/v1", "model": "m"}}
    args = parse(["--base-url", "http://h:1/v1", "respond", "a.wav"])  # before the sub-command works too
    assert flag_overrides(args) == {"backend": "openai", "remote": {"base_url": "http://h:1/v1"}}
    assert flag_overrides(parse(["respond", "a.wav", "--model", "some/dir"])) == {"model": {"id": "some/dir"}}
    # The config already chose the server: --model names the server's model.
    assert flag_overrides(parse(["respond", "a.wav", "--model", "m"]), "openai") == {"remote": {"model": "m"}}
    assert flag_overrides(parse(["respond", "a.wav", "--backend", "local", "--model", "d"]), "openai") == {
        "backend": "local",
        "model": {"id": "d"},
    }


def test_cli_respond_streams_json_chunks_from_the_server(server, tmp_path: Path):
    server.models = ("voxtral-mini-latest",)
    wav = tmp_path / "question.wav"
    sf.write(wav, tone(1.5, 220.0), 16000, subtype="PCM_16")
    env = {k: v for k, v in os.environ.items() if k not in secrets.ENV_VARS}
    env["VOXTRAL_DESKTOP_HOME"] = str(tmp_path / "home")
    env["VOXTRAL_API_KEY"] = SECRET
    cmd = [
        sys.executable, "-m", "voxtral_desktop", "respond", str(wav),
        "--backend", "openai", "--base-url", server.url + "/v1", "--model", "voxtral-mini-latest",
    ]  # fmt: skip
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    chunks = [json.loads(line) for line in done.stdout.splitlines()]
    check_contract(chunks)
    assert shown_text(chunks).split() == REPLY.split()
    rec = server.last("/v1/chat/completions")
    assert rec.body["model"] == "voxtral-mini-latest" and rec.audio[0].frames == 24000
    assert SECRET not in done.stdout + done.stderr


def run_cli(*args: str, home) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "voxtral_desktop", *args], capture_output=True, text=True, env=env)


def test_cli_history_list_and_export(isolated_home):
    with HistoryStore() as store:
        cid = store.create_conversation("Trip planning")
        store.add_user_turn(cid, duration_s=1.2, text="where to?")
        reply = store.start_reply(cid)
        store.append_chunk(reply, {"chunk_index": 0, "text": "Lisbon is lovely", "processing_time_ms": 5.0})
        store.finish_reply(reply, ReplyStatus.COMPLETE, total_ms=9.0)
    listed = run_cli("history", "list", home=isolated_home)
    assert listed.returncode == 0 and cid in listed.stdout and "Trip planning" in listed.stdout
    md = run_cli("history", "export", cid, "--format", "md", home=isolated_home)
    assert md.returncode == 0 and "**Voxtral**: Lisbon is lovely" in md.stdout
    js = run_cli("history", "export", cid, "--format", "json", home=isolated_home)
    assert json.loads(js.stdout)["title"] == "Trip planning"
    missing = run_cli("history", "export", "nope", home=isolated_home)
    assert missing.returncode == 2 and "nope" in missing.stderr


# --- a full disk: the reply streams, and the user is told once that it was not saved ------------------------


@pytest.fixture(params=[False, True], ids=["full", "full-no-new-files"])
def full_disk_at(request, tmp_path):
    """A full disk (tmpfs) to point VOXTRAL_DESKTOP_HOME at; one still makes empty files, one makes none."""
    try:
        with full_disk(tmp_path / "disk", no_new_files=request.param) as disk:
            yield disk
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")


def respond_on(server, home: Path, wav: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    server.models = ("voxtral-mini-latest",)
    env = {k: v for k, v in os.environ.items() if k not in secrets.ENV_VARS}
    env.update(VOXTRAL_DESKTOP_HOME=str(home), VOXTRAL_API_KEY=SECRET)
    cmd = [sys.executable, "-m", "voxtral_desktop", "respond", str(wav), "--backend", "openai",
           "--base-url", server.url + "/v1", "--model", "voxtral-mini-latest", *extra]  # fmt: skip
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60, env=env)


def not_saved_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "not saved" in line]


def test_respond_on_a_full_disk_with_no_history_streams_and_says_once_it_was_not_saved(
    server, tmp_path, full_disk_at
):
    wav = tmp_path / "q.wav"
    sf.write(wav, tone(1.5, 220.0), 16000, subtype="PCM_16")
    done = respond_on(server, full_disk_at / "home", wav, "--conversation", "c1")
    assert done.returncode == 0, done.stderr
    chunks = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: only the chunk lines
    check_contract(chunks)
    assert shown_text(chunks).split() == REPLY.split()
    assert "Traceback" not in done.stderr
    told = not_saved_lines(done.stderr)
    assert len(told) == 1 and "full" in told[0], done.stderr
    assert done.stderr.splitlines() == told  # and nothing else: no log lines saying it again


def test_history_on_a_full_disk_with_no_history_says_why_in_one_line(full_disk_at):
    listed = run_cli("history", "list", home=full_disk_at / "home")
    assert listed.returncode == 1 and listed.stdout == ""
    assert "Traceback" not in listed.stderr
    assert len(listed.stderr.splitlines()) == 1 and "cannot open the history file" in listed.stderr


@pytest.mark.parametrize("conversation", ["old", "new"])
def test_respond_on_a_disk_that_filled_after_the_history_says_once_it_was_not_saved(
    server, tmp_path, conversation
):
    """The history exists (one conversation) but the disk is full now: continuing it, or starting one."""
    wav = tmp_path / "q.wav"
    sf.write(wav, tone(1.5, 220.0), 16000, subtype="PCM_16")
    try:
        with tmpfs(tmp_path / "disk", 1 << 20) as disk:
            home = disk / "home"
            with HistoryStore(home / "data" / "history.sqlite3") as store:
                store.create_conversation("Trip planning", conversation_id="old")
            before = (home / "data" / "history.sqlite3").read_bytes()
            fill(disk)
            done = respond_on(server, home, wav, "--conversation", conversation)
            assert (home / "data" / "history.sqlite3").read_bytes() == before  # what was saved is untouched
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")
    assert done.returncode == 0, done.stderr
    assert shown_text([json.loads(line) for line in done.stdout.splitlines()]).split() == REPLY.split()
    assert "Traceback" not in done.stderr
    told = not_saved_lines(done.stderr)
    assert len(told) == 1 and "full" in told[0], done.stderr
    assert done.stderr.splitlines() == told  # and nothing else: no log lines saying it again


# --- the voice: `say`, `respond --speak-to`, `respond --speak` -----------------------------------------------


def speech_share(path: Path) -> tuple[float, float]:
    """(seconds, share of 20 ms windows with sound) of a WAV file: speech has most windows sounding."""
    audio, rate = sf.read(str(path), dtype="float32")
    n = rate // 50
    windows = audio[: len(audio) // n * n].reshape(-1, n)
    loud = np.sqrt(np.mean(windows**2, axis=1)) > 0.01
    return len(audio) / rate, float(loud.mean()) if len(loud) else 0.0


@pytest.fixture
def joe_path(joe_voice) -> str:
    return str(joe_voice.model_path)


def test_say_writes_speech_with_the_chosen_voice(isolated_home, tmp_path, joe_path):
    out = tmp_path / "hello.wav"
    done = run_cli("say", "Hello there, this is how I sound.", "--voice", joe_path, "--out", str(out),
                   home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    seconds, sounding = speech_share(out)
    assert 1.0 < seconds < 6.0 and sounding > 0.5
    assert sf.info(str(out)).samplerate == 22050


def test_say_without_a_voice_setting_uses_an_installed_voice_offline(isolated_home, tmp_path, joe_voice):
    out = tmp_path / "default.wav"
    done = run_cli("say", "Good morning.", "--out", str(out), home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert speech_share(out)[1] > 0.4


def test_say_with_a_voice_that_cannot_be_had_is_a_clear_error(isolated_home, tmp_path):
    out = tmp_path / "never.wav"
    done = run_cli("say", "Hello.", "--voice", "en_GB-nobody-low", "--out", str(out), home=isolated_home)
    assert done.returncode == 1
    assert "error:" in done.stderr and "en_GB-nobody-low" in done.stderr
    assert not out.exists()
    empty = run_cli("say", "  ", "--out", str(out), home=isolated_home)
    assert empty.returncode == 2 and "nothing to say" in empty.stderr


@pytest.mark.integration
def test_respond_speak_to_writes_the_spoken_reply_and_stdout_keeps_only_chunks(
    isolated_home, tmp_path, tiny_model_dir, utterance_audio, joe_path
):
    from voxtral_desktop.testing.speech import UTTERANCES, write_wav

    question = write_wav(tmp_path / "q.wav", utterance_audio["a"])
    out = tmp_path / "reply.wav"
    done = run_cli("respond", str(question), "--model", str(tiny_model_dir), "--speak-to", str(out),
                   "--voice", joe_path, home=isolated_home)
    assert done.returncode == 0, done.stderr
    chunks = [json.loads(line) for line in done.stdout.splitlines()]  # every line is a chunk dict
    check_contract(chunks)
    assert shown_text(chunks) == UTTERANCES[0].reply
    seconds, sounding = speech_share(out)
    assert seconds > 2.5 and sounding > 0.5  # a dozen words, spoken


@pytest.mark.integration
@pytest.mark.pulseaudio
def test_respond_speak_plays_the_reply_on_the_speakers(
    isolated_home, tmp_path, tiny_model_dir, utterance_audio, joe_path, pulse_rig
):
    from voxtral_desktop.testing.speech import write_wav

    question = write_wav(tmp_path / "q.wav", utterance_audio["a"])
    recorder = pulse_rig.record()
    env = {**pulse_rig.env, "VOXTRAL_DESKTOP_HOME": str(isolated_home)}
    done = subprocess.run(
        [sys.executable, "-m", "voxtral_desktop", "respond", str(question), "--model", str(tiny_model_dir),
         "--speak", "--voice", joe_path],
        capture_output=True, text=True, env=env, timeout=300,
    )
    recording = recorder.stop()
    assert done.returncode == 0, done.stderr
    chunks = [json.loads(line) for line in done.stdout.splitlines()]
    check_contract(chunks)
    _, rms = recording.envelope(20.0)
    assert (rms > 0.01).sum() * 0.02 > 2.0, "under 2 s of speech reached the speakers"


def test_say_with_a_mistral_voice_streams_it_from_the_speech_api_into_the_file(
    isolated_home, tmp_path, clean_keys, joe_voice
):
    from voxtral_desktop.testing.speech_server import SpeechServer
    from voxtral_desktop.testing.speech_server import tone as tone_24k

    out = tmp_path / "mistral.wav"
    with SpeechServer(require_key="sk-cli-tts") as server:
        server.script.audio = tone_24k(0.5, 220.0)
        settings = tmp_path / "tts.yaml"
        settings.write_text(f"speech:\n  server_url: {server.base_url}\n", encoding="utf-8")
        env_key = {"MISTRAL_API_KEY": "sk-cli-tts"}
        done = run_cli_env("--config", str(settings), "say", "Bonjour !", "--voice", "mistral:voice_592",
                           "--out", str(out), home=isolated_home, env=env_key)
        assert done.returncode == 0, done.stderr
        rec = server.speech_requests()[-1]
        assert rec.body["voice_id"] == "voice_592" and rec.body["input"] == "Bonjour !" and rec.body["stream"]
    audio, rate = sf.read(str(out), dtype="float32")
    assert rate == 24000 and np.abs(audio - server.script.audio).max() < 1e-3  # PCM_16 in the file

    # Nothing listening any more: the installed voice (joe) says it instead, and stderr says why.
    done = run_cli_env("--config", str(settings), "say", "Good morning to you.", "--voice", "mistral:voice_592",
                       "--out", str(out), home=isolated_home, env=env_key)
    assert done.returncode == 0, done.stderr
    assert "could not be reached" in done.stderr and "en_US-joe-medium speaks instead" in done.stderr
    assert sf.info(str(out)).samplerate == 24000 and speech_share(out)[1] > 0.4


def run_cli_env(*args: str, home, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "voxtral_desktop", *args], capture_output=True, text=True, env=full)


def test_respond_speak_to_with_mistrals_voice_speaks_each_chunk_from_the_speech_api(server, tmp_path, clean_keys):
    from voxtral_desktop.testing.speech_server import SpeechServer
    from voxtral_desktop.testing.speech_server import tone as tone_24k

    server.models = ("voxtral-small-latest",)
    wav = tmp_path / "question.wav"
    sf.write(wav, tone(1.5, 220.0), 16000, subtype="PCM_16")
    out = tmp_path / "reply.wav"
    with SpeechServer(require_key=SECRET) as speech:
        speech.script.audio = tone_24k(0.25, 330.0)
        settings = tmp_path / "mistral.yaml"
        settings.write_text(
            f"remote:\n  mistral_base_url: {server.url}/v1\nspeech:\n  server_url: {speech.base_url}\n",
            encoding="utf-8",
        )
        done = run_cli_env("--config", str(settings), "respond", str(wav), "--backend", "mistral",
                           "--speak-to", str(out), "--voice", "mistral:voice_478", home=tmp_path / "home",
                           env={"MISTRAL_API_KEY": SECRET})
        assert done.returncode == 0, done.stderr
        chunks = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: only the chunk dicts
        check_contract(chunks)
        said = [c["text"] for c in chunks if c["success"] and c["text"].strip()]
        asked = [r.body["input"] for r in speech.speech_requests()]
        assert asked == said and all(r.body["voice_id"] == "voice_478" for r in speech.speech_requests())
    audio, rate = sf.read(str(out), dtype="float32")
    assert rate == 24000 and len(audio) == len(said) * len(speech.script.audio)  # every chunk's audio, in order
    assert SECRET not in done.stdout + done.stderr
