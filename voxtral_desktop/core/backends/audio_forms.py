"""The audio form a server takes, found rather than guessed: which refusals concern the audio part, the order the
forms are tried in, and a per-server memory of the form that worked (a small JSON file in the app's data folder)."""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxtral_desktop.core import paths
from voxtral_desktop.core.backends.openai_wire import AUDIO_FORMATS

log = logging.getLogger(__name__)

MEMORY_FILE = "audio_forms.json"
# 400 is what vLLM, OpenAI and llama-server answer a content part they cannot read with; 422 is a validation
# error from FastAPI-style servers (Mistral's API documents HTTPValidationError for it).
REFUSAL_STATUSES = frozenset({400, 422})
# The content-part keys the forms put on the wire (openai_wire.audio_part).
_AUDIO_KEYS = frozenset({"audio_url", "input_audio"})


def forms_to_try(configured: str, remembered: str | None = None) -> list[str]:
    """Each form once: the one found to work here before, the configured one, then the rest."""
    first = [remembered] if remembered and remembered != configured and remembered in AUDIO_FORMATS else []
    return first + [configured] + [f for f in AUDIO_FORMATS if f != configured and f not in first]


# -- which refusals concern the audio ---------------------------------------------------------------------


def refuses_audio(error: BaseException, messages: list[dict[str, Any]]) -> bool:
    """True when ``error`` (the SDK's APIStatusError) refuses the audio part of ``messages``.

    By structure first: the error's locator, OpenAI's ``param`` ("messages.[0].content.[0].input_audio") or a
    validation error's ``loc`` (["body", "messages", 0, "content", 0, ...]), names an audio key or points at a
    content part that holds audio. Only when the body gives no locator at all is its message read, and then
    only for the wire's own key names (audio_url, input_audio), never for prose: vLLM, the usual server here,
    reports an unreadable content part with ``param: null`` and the part's type in ``message``.
    """
    if getattr(error, "status_code", None) not in REFUSAL_STATUSES:
        return False
    audio_at = _audio_positions(messages)
    if not audio_at:
        return False  # nothing with audio was sent: the refusal is about something else
    body = getattr(error, "body", None)
    located = list(_locators(body))
    if located:
        return any(_points_at_audio(path, audio_at) for path in located)
    text = " ".join(_messages_in(body))
    return any(re.search(rf"(?<![A-Za-z_]){key}(?![A-Za-z_])", text) for key in _AUDIO_KEYS)


def _audio_positions(messages: list[dict[str, Any]]) -> set[tuple[int, int]]:
    found = set()
    for i, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") in _AUDIO_KEYS:
                    found.add((i, j))
    return found


def _locators(body: object) -> Iterable[list[str | int]]:
    """Every path an error body points at: ``param`` strings and ``loc`` lists, however deeply nested
    (OpenAI's {"error": {...}}, Mistral's {"message": {"detail": [...]}}, FastAPI's {"detail": [...]})."""
    if isinstance(body, dict):
        param = body.get("param")
        if isinstance(param, str) and param.strip():
            yield [int(t) if t.isdigit() else t for t in re.findall(r"[A-Za-z_]+|\d+", param)]
        loc = body.get("loc")
        if isinstance(loc, list) and loc:
            yield [int(t) if isinstance(t, str) and t.isdigit() else t for t in loc]
        for key in ("error", "message", "detail"):
            yield from _locators(body.get(key))
    elif isinstance(body, list):
        for item in body:
            yield from _locators(item)


def _points_at_audio(path: list[str | int], audio_at: set[tuple[int, int]]) -> bool:
    if any(t in _AUDIO_KEYS for t in path if isinstance(t, str)):
        return True
    if "messages" not in path or "content" not in path:
        return False
    after_messages = path[path.index("messages") + 1 :]
    after_content = path[path.index("content") + 1 :]
    i = next((t for t in after_messages if isinstance(t, int)), None)
    j = next((t for t in after_content if isinstance(t, int)), None)
    return (i, j) in audio_at


def _messages_in(body: object) -> Iterable[str]:
    if isinstance(body, str):
        yield body
    elif isinstance(body, dict):
        for key in ("message", "detail", "msg", "error"):
            yield from _messages_in(body.get(key))
    elif isinstance(body, list):
        for item in body:
            yield from _messages_in(item)


# -- the memory ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What was learnt about one server: ``works`` was taken after ``instead_of`` was refused, on ``found``."""

    works: str
    instead_of: str
    found: str  # ISO date

    def describe(self) -> str:
        return f"this server took {self.works} after refusing {self.instead_of} (found {self.found})"


def _key(base_url: str) -> str:
    return base_url.strip().rstrip("/")


class FormMemory:
    """Per-server audio forms, in ``audio_forms.json`` under the app's data folder. A file that cannot be read
    counts as empty (it holds nothing but what can be found again) and is replaced by the next finding."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else paths.user_data_dir() / MEMORY_FILE
        self._lock = threading.Lock()  # the back-end writes from a worker thread; Settings reads

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            log.warning("ignoring %s, which cannot be read (%s); forms will be found again", self.path, e)
            return {}
        servers = data.get("servers") if isinstance(data, dict) else None
        return servers if isinstance(servers, dict) else {}

    def entry(self, base_url: str) -> Found | None:
        """What was found for ``base_url``, if anything."""
        with self._lock:
            raw = self._read().get(_key(base_url))
        if not isinstance(raw, dict):
            return None
        works, instead_of = raw.get("audio_format"), raw.get("instead_of")
        if works not in AUDIO_FORMATS or instead_of not in AUDIO_FORMATS:
            return None
        return Found(works, instead_of, str(raw.get("found", "")))

    def remembered(self, base_url: str, configured: str) -> str | None:
        """The form to try first for ``base_url`` while ``configured`` is the setting, or None."""
        found = self.entry(base_url)
        return found.works if found is not None and found.instead_of == configured else None

    def remember(self, base_url: str, configured: str, works: str) -> None:
        """Note that ``base_url`` took ``works`` where ``configured`` was refused (works == configured: forget)."""
        with self._lock:
            servers = self._read()
            if works == configured:
                if servers.pop(_key(base_url), None) is None:
                    return
            else:
                servers[_key(base_url)] = {
                    "audio_format": works,
                    "instead_of": configured,
                    "found": datetime.date.today().isoformat(),
                }
            self._write({"version": 1, "servers": servers})
        log.info("audio form for %s: %s (setting: %s)", _key(base_url), works, configured)

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
