"""Trouble the user must know of while replies go on, said once per trouble and cleared when it has passed."""

from __future__ import annotations

from collections.abc import Callable

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.errors import EngineCrashed, HistoryWriteError, ModelBusy
from voxtral_desktop.core.reply import Reply

HISTORY = "history"  # the conversation could not be saved
BUSY = "busy"  # a stuck earlier reply still holds the model
ENGINE = "engine"  # the llama.cpp engine process died during a reply (the next one restarts it)
HISTORY_TITLE = "This conversation could not be saved"


class Troubles:
    """Keys of the troubles shown (a banner each): ``say`` shows one once, ``clear`` takes it away."""

    def __init__(self, said: Callable[[str, str, str], None], cleared: Callable[[str], None]) -> None:
        self._said = said  # (key, title, what to do)
        self._cleared = cleared  # (key)
        self._shown: set[str] = set()

    def say(self, key: str, title: str, text: str) -> None:
        if key not in self._shown:
            self._shown.add(key)
            self._said(key, title, text)

    def clear(self, key: str) -> None:
        if key in self._shown:
            self._shown.discard(key)
            self._cleared(key)

    def saving_failed(self, error: HistoryWriteError | None) -> None:
        """The exchange in flight could not (all) be saved: said while the reply streams on."""
        if error is not None:
            why = error.reason  # the banner's title says "could not be saved" already
            self.say(
                HISTORY,
                HISTORY_TITLE,
                f"{why[:1].upper()}{why[1:]}. The reply still comes; what was saved before is safe.",
            )

    def after_reply(self, save_error: HistoryWriteError | None, saved: bool, reply: Reply) -> None:
        """What a finished reply shows or clears: its history saved or not, the model still busy."""
        self.saving_failed(save_error)
        if saved:
            self.clear(HISTORY)
        if isinstance(reply.error, ModelBusy):
            self.say(BUSY, "The model is still busy", reply.describe()[1] or reply.describe()[0])
        elif reply.status == ReplyStatus.COMPLETE:
            self.clear(BUSY)
        if isinstance(reply.error, EngineCrashed):
            what = str(reply.error)
            self.say(ENGINE, "The engine stopped", f"{what[:1].upper()}{what[1:]}.")
        elif reply.status == ReplyStatus.COMPLETE:
            self.clear(ENGINE)  # it answered again: restarted
