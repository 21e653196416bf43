"""load_config: defaults, precedence, validation messages, atomic save, and a corrupt user file kept intact."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from voxtral_desktop import ConfigError, load_config
from voxtral_desktop.core import config as config_mod
from voxtral_desktop.core import paths
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.small_disk import Unavailable, fill, tmpfs

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def write_user(text: str) -> Path:
    f = paths.user_config_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text, encoding="utf-8")
    return f


def test_defaults_are_the_seed_values():
    cfg = load_config()
    assert cfg.streaming.max_new_tokens == 50
    assert cfg.streaming.temperature == 0.7
    assert cfg.streaming.top_p == 0.9
    assert cfg.streaming.chunk_size_words == 4
    assert cfg.streaming.timeout_ms == 60000
    assert cfg.model.id == "mistralai/Voxtral-Mini-3B-2507"
    assert cfg.model.device == "auto" and cfg.model.dtype == "auto"
    assert cfg.audio.sample_rate == 16000
    assert cfg.backend == "auto"


def test_repository_config_is_the_shipped_one():
    assert REPO_CONFIG.read_text(encoding="utf-8") == config_mod.shipped_config_text()


def test_every_shipped_key_is_known_and_every_known_key_is_shipped():
    shipped = yaml.safe_load(config_mod.shipped_config_text())
    assert shipped == load_config().to_dict()


def test_user_file_overrides_defaults_and_keeps_the_rest():
    write_user("streaming:\n  temperature: 0.2\nmodel:\n  id: /models/voxtral\n")
    cfg = load_config()
    assert cfg.streaming.temperature == 0.2
    assert cfg.model.id == "/models/voxtral"
    assert cfg.streaming.top_p == 0.9


def test_explicit_path_beats_user_file_and_overrides_beat_both(tmp_path):
    write_user("streaming:\n  temperature: 0.2\n  top_p: 0.5\n  max_new_tokens: 10\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("streaming:\n  temperature: 0.3\n  top_p: 0.6\n")
    cfg = load_config(extra, overrides={"streaming": {"temperature": 0.0}})
    assert cfg.streaming.temperature == 0.0
    assert cfg.streaming.top_p == 0.6
    assert cfg.streaming.max_new_tokens == 10


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_empty_user_file_means_defaults():
    write_user("")
    assert load_config() == config_mod.default_config()


@pytest.mark.parametrize(
    "overrides, key, value",
    [
        ({"streaming": {"temperature": -0.1}}, "streaming.temperature", "-0.1"),
        ({"streaming": {"top_p": 0}}, "streaming.top_p", "0"),
        ({"streaming": {"top_p": 1.5}}, "streaming.top_p", "1.5"),
        ({"streaming": {"chunk_size_words": 0}}, "streaming.chunk_size_words", "0"),
        ({"streaming": {"max_new_tokens": 0}}, "streaming.max_new_tokens", "0"),
        ({"streaming": {"timeout_ms": -5}}, "streaming.timeout_ms", "-5"),
        ({"streaming": {"flush_interval_ms": 0}}, "streaming.flush_interval_ms", "0"),
        ({"model": {"device": "tpu"}}, "model.device", "'tpu'"),
        ({"model": {"dtype": "int8"}}, "model.dtype", "'int8'"),
        ({"model": {"id": "  "}}, "model.id", "'  '"),
        ({"audio": {"sample_rate": 44100}}, "audio.sample_rate", "44100"),
        ({"audio": {"speech_threshold": -1}}, "audio.speech_threshold", "-1"),
        ({"audio": {"max_recording_s": 0}}, "audio.max_recording_s", "0"),
        ({"backend": "cloud"}, "backend", "'cloud'"),
        ({"remote": {"audio_format": "mp3"}}, "remote.audio_format", "'mp3'"),
    ],
)
def test_out_of_range_values_name_key_and_value(overrides, key, value):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert key in str(err.value) and value in str(err.value)


@pytest.mark.parametrize(
    "overrides, key, value",
    [
        ({"streaming": {"temperature": "hot"}}, "streaming.temperature", "'hot'"),
        ({"streaming": {"chunk_size_words": 4.5}}, "streaming.chunk_size_words", "4.5"),
        ({"streaming": {"max_new_tokens": True}}, "streaming.max_new_tokens", "True"),
        ({"model": {"id": 3}}, "model.id", "3"),
        ({"streaming": "fast"}, "streaming", "'fast'"),
    ],
)
def test_wrong_types_name_key_and_value(overrides, key, value):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert key in str(err.value) and value in str(err.value)


@pytest.mark.parametrize(
    "overrides, key", [({"streaming": {"chunk_words": 4}}, "streaming.chunk_words"), ({"colour": "red"}, "colour")]
)
def test_unknown_keys_are_rejected_by_name(overrides, key):
    with pytest.raises(ConfigError, match=f"unknown config key '{key}'"):
        load_config(overrides=overrides)


def test_bad_value_in_user_file_names_the_file():
    f = write_user("streaming:\n  top_p: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert "streaming.top_p" in str(err.value) and str(f) in str(err.value)


def test_ints_are_accepted_where_numbers_are_expected():
    cfg = load_config(overrides={"streaming": {"temperature": 1}})
    assert cfg.streaming.temperature == 1.0 and isinstance(cfg.streaming.temperature, float)


def test_runtime_changes_are_validated_and_a_bad_one_changes_nothing():
    cfg = load_config()
    cfg.streaming.temperature = 0.25
    assert cfg.streaming.temperature == 0.25
    with pytest.raises(ConfigError, match="streaming.temperature"):
        cfg.streaming.temperature = -3
    assert cfg.streaming.temperature == 0.25
    with pytest.raises(ConfigError, match="unknown config key 'streaming.temp'"):
        cfg.streaming.temp = 1  # type: ignore[attr-defined]


def test_update_is_all_or_nothing():
    cfg = load_config()
    with pytest.raises(ConfigError):
        cfg.update({"streaming": {"temperature": 0.1, "top_p": 9}})
    assert cfg.streaming.temperature == 0.7


def test_save_writes_only_changes_and_round_trips():
    cfg = load_config()
    cfg.streaming.chunk_size_words = 5
    cfg.model.id = "/srv/models/voxtral-mini"
    target = cfg.save()
    assert target == paths.user_config_file()
    on_disk = yaml.safe_load(target.read_text())
    assert on_disk == {"model": {"id": "/srv/models/voxtral-mini"}, "streaming": {"chunk_size_words": 5}}
    assert load_config() == cfg


def test_save_is_atomic_when_writing_fails(monkeypatch):
    f = write_user("streaming:\n  temperature: 0.2\n")
    before = f.read_text()
    cfg = load_config()
    cfg.streaming.temperature = 0.4

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(config_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        cfg.save()
    assert f.read_text() == before
    assert [p.name for p in f.parent.iterdir()] == ["config.yaml"]  # no temp file left behind


@pytest.mark.parametrize(
    "text",
    ["streaming: [unclosed\n", "just a string\n", "streaming:\n  temperature: {a: 1}\n", b"\xff\xfe\x00bad"],
)
def test_corrupt_user_file_is_a_clear_error_and_is_left_as_it_was(text):
    f = paths.user_config_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        f.write_bytes(text)
    else:
        f.write_text(text)
    before = f.read_bytes()
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(f) in str(err.value)
    assert f.read_bytes() == before


def test_saving_over_a_corrupt_user_file_keeps_a_backup():
    f = write_user("streaming: [unclosed\n")
    cfg = config_mod.default_config()
    cfg.streaming.top_p = 0.8
    cfg.save(f)
    backups = list(f.parent.glob("config.yaml.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "streaming: [unclosed\n"
    assert load_config().streaming.top_p == 0.8


def test_yaml_tags_that_build_objects_are_refused():
    write_user("streaming: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config()


# --- save_changes: Settings' "Save" ------------------------------------------------------------------


def test_save_changes_merges_into_the_user_file_and_leaves_one_run_flags_out(tmp_path):
    write_user("conversation:\n  max_turns: 2\n")
    live = load_config(overrides={"model": {"id": str(tmp_path)}})  # as `--model DIR` does
    saved = config_mod.save_changes({"streaming": {"temperature": 0.2}, "speech": {}}, live=live)
    on_disk = yaml.safe_load(paths.user_config_file().read_text())
    assert on_disk == {"conversation": {"max_turns": 2}, "streaming": {"temperature": 0.2}}
    assert live.streaming.temperature == 0.2 and live.model.id == str(tmp_path)  # the next reply uses it
    assert saved.streaming.temperature == 0.2 and saved.conversation.max_turns == 2
    assert saved.model.id == config_mod.default_config().model.id


def test_save_changes_takes_top_level_settings_too():
    config_mod.save_changes({"backend": "openai", "remote": {"base_url": "http://h:1/v1"}})
    assert load_config().backend == "openai" and load_config().remote.base_url == "http://h:1/v1"


def test_save_changes_with_a_bad_value_changes_neither_the_file_nor_the_live_settings():
    f = write_user("streaming:\n  temperature: 0.3\n")
    live = load_config()
    with pytest.raises(ConfigError, match="streaming.top_p"):
        config_mod.save_changes({"streaming": {"temperature": 0.5, "top_p": 7}}, live=live)
    assert live.streaming.temperature == 0.3 and f.read_text() == "streaming:\n  temperature: 0.3\n"


def test_save_changes_that_cannot_be_written_are_rolled_back(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    live = load_config()
    with pytest.raises(ConfigError, match="could not save settings to"):
        config_mod.save_changes({"streaming": {"temperature": 0.1}}, live=live, path=blocker / "config.yaml")
    assert live.streaming.temperature == 0.7


@pytest.mark.parametrize("first_run", [True, False], ids=["first-run", "settings-saved-before"])
def test_saving_settings_on_a_full_disk_changes_nothing_and_says_why_in_words(
    tmp_path, monkeypatch, first_run
):
    try:
        with tmpfs(tmp_path / "disk", 1 << 20) as disk:
            monkeypatch.setenv(paths.HOME_ENV, str(disk / "home"))
            if not first_run:
                write_user("streaming:\n  temperature: 0.3\n")
            before = sorted(p.name for p in disk.rglob("*") if p.is_file())
            live = load_config()
            fill(disk)
            with pytest.raises(ConfigError) as raised:
                config_mod.save_changes({"streaming": {"temperature": 0.1}}, live=live)
            (disk / "filler.bin").unlink()
            after = sorted(p.name for p in disk.rglob("*") if p.is_file())
            saved = paths.user_config_file().read_text() if not first_run else None
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")
    said = str(raised.value)
    assert said == f"could not save settings to {paths.user_config_file()}: No space left on device"
    assert live.streaming.temperature == (0.7 if first_run else 0.3)  # the running app keeps what it had
    assert saved in (None, "streaming:\n  temperature: 0.3\n")  # the file is as it was
    assert after == before  # no temporary file left behind


@pytest.mark.parametrize("text", ["streaming: [unclosed\n", "streaming:\n  top_p: 9\n"], ids=["not-yaml", "bad-value"])
def test_save_changes_over_an_unusable_user_file_keeps_a_backup(text):
    f = write_user(text)
    config_mod.save_changes({"streaming": {"chunk_size_words": 3}})
    backups = list(f.parent.glob("config.yaml.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == text
    assert yaml.safe_load(f.read_text()) == {"streaming": {"chunk_size_words": 3}}


def test_save_changes_with_nothing_changed_writes_nothing():
    config_mod.save_changes({"streaming": {}, "speech": None})
    assert not paths.user_config_file().exists()


def test_save_changes_writes_to_the_file_the_live_settings_came_from(tmp_path):
    live = config_mod.Config(user_file=tmp_path / "mine.yaml")
    config_mod.save_changes({"audio": {"min_speech_ms": 150}}, live=live)
    assert yaml.safe_load((tmp_path / "mine.yaml").read_text()) == {"audio": {"min_speech_ms": 150}}
    assert not paths.user_config_file().exists()
