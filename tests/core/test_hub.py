"""The hub boundary: an unreachable hub (no network, or HF_HUB_OFFLINE=1) is HubUnreachable with the library's
words kept aside; any other failure raises as it is, so that it never reads as "you are offline"."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest

from voxtral_desktop.core import hub
from voxtral_desktop.core.errors import HubUnreachable
from voxtral_desktop.testing.offline_hub import unreachable_hub_env

MINI = "mistralai/Voxtral-Mini-3B-2507"

# Runs in a child process: huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT when it is imported.
PROBE = """
import json, sys
from pathlib import Path
from voxtral_desktop.core import hub
out = []
for call in (lambda: hub.download_snapshot(sys.argv[1], ["*.json"], lambda f: None),
             lambda: hub.download_file("rhasspy/piper-voices", "voices.json", Path(sys.argv[2]))):
    try:
        call()
        out.append({"type": "none"})
    except Exception as e:
        out.append({"type": type(e).__name__, "repo": getattr(e, "repo", None), "cause": getattr(e, "cause", ""),
                    "size": getattr(e, "size_bytes", None), "offline_mode": getattr(e, "offline_mode", None),
                    "message": str(e)})
print(json.dumps(out))
"""


def run_probe(tmp_path, offline_mode: bool) -> list[dict]:
    env = unreachable_hub_env(tmp_path, offline_mode=offline_mode)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, MINI, str(tmp_path / "voices")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("offline_mode", [False, True], ids=["no-network", "HF_HUB_OFFLINE=1"])
def test_an_unreachable_hub_is_typed_with_the_librarys_words_kept_for_details(tmp_path, offline_mode):
    model, voice = run_probe(tmp_path, offline_mode)
    assert model["type"] == voice["type"] == "HubUnreachable"
    assert (model["repo"], voice["repo"]) == (MINI, "rhasspy/piper-voices")
    assert model["size"] == hub.KNOWN_SIZES[MINI] and voice["size"] is None
    assert model["offline_mode"] is voice["offline_mode"] is offline_mode
    library = "OfflineModeIsEnabled" if offline_mode else "ConnectError"
    for error in (model, voice):
        assert library in error["cause"] and library not in error["message"]
    assert not (tmp_path / "voices" / "voices.json").exists()


def test_a_failure_that_is_not_about_the_network_raises_as_it_is(monkeypatch, tmp_path):
    import huggingface_hub

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def bug(*args, **kwargs):
        raise KeyError("a bug in the hub client")

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", full_disk)
    with pytest.raises(OSError) as raised:
        hub.download_file("rhasspy/piper-voices", "voices.json", tmp_path)
    assert not isinstance(raised.value, HubUnreachable) and raised.value.errno == errno.ENOSPC
    monkeypatch.setattr(huggingface_hub, "snapshot_download", bug)
    with pytest.raises(KeyError):
        hub.download_snapshot(MINI, ["*.json"], lambda fraction: None)


def test_sizes_are_said_roughly():
    assert hub.about(hub.KNOWN_SIZES[MINI]) == "about 9 GB"
    assert hub.about(63_000_000) == "about 63 MB"
