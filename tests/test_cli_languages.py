"""`say` (and `respond --speak`, which loads its voice the same way) follows each sentence's language (issue 21):
the French sentence is read by the French voice; a language with no voice is read by the default, said once."""

from __future__ import annotations

import os
import subprocess
import sys

import soundfile as sf

from voxtral_desktop.testing.language_voices import register_joe_as


def run_cli(*args: str, home) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "voxtral_desktop", *args], capture_output=True, text=True, env=env,
                          check=False)


def test_say_switches_to_the_voice_of_each_sentences_language(isolated_home, tmp_path, joe_voice):
    french = register_joe_as("fr")
    out = tmp_path / "mixed.wav"
    done = run_cli("-v", "say", "Here is the answer. Bonjour, je m'appelle Marie et j'habite à Paris. That is all.",
                   "--voice", "en_US-joe-medium", "--out", str(out), home=isolated_home)
    assert done.returncode == 0, done.stderr
    switches = [line.split("sentences: the voice ")[-1] for line in done.stderr.splitlines()
                if "sentences: the voice" in line]
    assert switches == [french, "en_US-joe-medium"]
    assert sf.info(str(out)).duration > 3.0


def test_say_in_a_language_without_a_voice_uses_the_default_and_says_so_once(isolated_home, tmp_path, joe_voice):
    out = tmp_path / "italian.wav"
    done = run_cli("say", "Oggi il tempo è molto bello. Domani pioverà tutto il giorno.", "--out", str(out),
                   home=isolated_home)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("No Italian voice is installed") == 1
    assert "read by en_US-joe-medium" in done.stderr
    assert sf.info(str(out)).duration > 2.0
