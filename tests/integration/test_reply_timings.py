"""Where a reply's time goes, on the tiny Voxtral: every stage in order, saved in history, printed by the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import soundfile as sf

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.core.timings import STAGES
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

MODEL_STAGES = [s.value for s in STAGES if s.value != "first_sound"]  # first_sound belongs to the voice


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    m = VoxtralModel(load_config(overrides={"model": {"id": str(tiny_model_dir)}, "streaming": {"temperature": 0}}))
    m.initialize()
    yield m
    m.close()


async def test_a_spoken_reply_records_every_stage_in_order_and_history_keeps_them(model, utterance_audio, tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        [c async for c in session.respond(utterance_audio["a"])]
        timings = session.last.timings.to_dict()
        (reply,) = [t for t in store.turns(session.conversation_id) if t.role == "assistant"]
    values = [timings[s] for s in MODEL_STAGES]
    assert None not in values and values == sorted(values)
    assert timings["first_sound"] is None
    assert reply.timings == timings
    assert session.last.timings.first_words_ms == timings["first_chunk"]


async def test_a_typed_reply_has_no_audio_stage(model, tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        [c async for c in session.respond_text("What is the weather like today?")]
    timings = session.last.timings.to_dict()
    assert timings["audio_encoded"] is None
    assert timings["prompt_built"] <= timings["first_token"] <= timings["first_chunk"] <= timings["last_chunk"]


def test_cli_timings_go_to_stderr_as_one_json_object(tiny_model_dir, utterance_audio, tmp_path):
    audio_file = tmp_path / "a.wav"
    sf.write(audio_file, utterance_audio["a"], 16000)
    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "voxtral_desktop", "respond", str(audio_file), "--model", str(tiny_model_dir), "--timings"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    chunks = [json.loads(line) for line in out.stdout.splitlines()]
    assert chunks and chunks[-1]["is_final"] and all(set(c) >= {"success", "text", "chunk_index"} for c in chunks)
    timings = json.loads(out.stderr.strip().splitlines()[-1])
    assert list(timings) == [s.value for s in STAGES]
    assert [timings[s] for s in MODEL_STAGES] == sorted(timings[s] for s in MODEL_STAGES)
    # The reply's last chunk left no earlier than the timings say it did.
    assert timings["last_chunk"] >= chunks[-1]["processing_time_ms"] - 1.0
