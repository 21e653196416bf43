"""Troubles shown while replies go on: each banner said once until it has passed, cleared when a later reply shows
it has (saved; answered), and the model-busy banner told by the error's type."""

from __future__ import annotations

from voxtral_desktop.core.chunks import BUSY_TEXT, ReplyStatus
from voxtral_desktop.core.errors import HistoryWriteError, ModelBusy, ReplyCancelled
from voxtral_desktop.core.reply import Ended, Reply, Words
from voxtral_desktop.ui.view_models.troubles import BUSY, HISTORY, HISTORY_TITLE, Troubles


class Banners:
    """What the window would show: every banner said and cleared, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.troubles = Troubles(self.said, self.cleared)

    def said(self, key: str, title: str, text: str) -> None:
        self.events.append(("said", key, title, text))

    def cleared(self, key: str) -> None:
        self.events.append(("cleared", key))

    def keys(self) -> list[tuple[str, str]]:
        return [(e[0], e[1]) for e in self.events]


def ended(status: ReplyStatus, error: BaseException | None = None, words: str = "") -> Reply:
    reply = Reply()
    if words:
        reply.record(Words(words, 0, 1.0))
    reply.record(Ended(status, 1, 2.0, error))
    return reply


def test_each_trouble_is_said_once_until_it_has_passed():
    banners = Banners()
    t = banners.troubles
    t.say(HISTORY, "Not saved", "Disk full.")
    t.say(HISTORY, "Not saved", "Disk full.")
    t.say(BUSY, "Busy", "Stuck.")
    t.clear(HISTORY)
    t.clear(HISTORY)  # already gone: nothing to take away
    t.clear("never said")
    t.say(HISTORY, "Not saved", "Disk full again.")
    assert banners.events == [
        ("said", HISTORY, "Not saved", "Disk full."),
        ("said", BUSY, "Busy", "Stuck."),
        ("cleared", HISTORY),
        ("said", HISTORY, "Not saved", "Disk full again."),
    ]


def test_a_failed_save_is_said_in_the_users_words_once_and_cleared_by_a_saved_reply():
    banners = Banners()
    t = banners.troubles
    t.saving_failed(None)  # nothing went wrong: nothing to say
    error = HistoryWriteError("the disk is full")
    t.saving_failed(error)  # while the reply streams...
    t.after_reply(error, False, ended(ReplyStatus.COMPLETE, words="Hi."))  # ...and when it ends: still once
    assert banners.events == [
        (
            "said",
            HISTORY,
            HISTORY_TITLE,
            "The disk is full. The reply still comes; what was saved before is safe.",
        )
    ]
    t.after_reply(None, True, ended(ReplyStatus.COMPLETE, words="Hi."))
    assert banners.keys()[-1] == ("cleared", HISTORY)


def test_a_busy_model_is_said_after_its_reply_and_cleared_after_a_complete_one():
    banners = Banners()
    t = banners.troubles
    busy = ended(ReplyStatus.ERROR, ModelBusy("the last generation has not stopped after 5 s"))
    t.after_reply(None, True, busy)
    t.after_reply(None, True, busy)
    assert banners.events == [
        ("said", BUSY, "The model is still busy", "the last generation has not stopped after 5 s")
    ]
    # Neither another failure nor a reply the user stopped shows the model free again; a complete one does.
    t.after_reply(None, True, ended(ReplyStatus.ERROR, RuntimeError("CUDA out of memory")))
    t.after_reply(None, True, ended(ReplyStatus.INTERRUPTED, ReplyCancelled(), words="Well"))
    assert banners.keys() == [("said", BUSY)]
    t.after_reply(None, True, ended(ReplyStatus.COMPLETE, words="Hello there."))
    assert banners.keys() == [("said", BUSY), ("cleared", BUSY)]


def test_busy_is_told_by_the_errors_type_not_by_its_text():
    banners = Banners()
    # A reply whose words happen to read like the busy sentence is no busy model.
    banners.troubles.after_reply(
        None, True, ended(ReplyStatus.ERROR, RuntimeError(BUSY_TEXT), words=BUSY_TEXT)
    )
    assert banners.events == []
    # A busy error with no detail still says something.
    banners.troubles.after_reply(None, True, ended(ReplyStatus.ERROR, ModelBusy()))
    assert banners.events == [("said", BUSY, "The model is still busy", BUSY_TEXT)]


def test_an_engine_that_died_is_said_in_a_banner_until_a_reply_answers_again():
    from voxtral_desktop.core.errors import EngineCrashed
    from voxtral_desktop.ui.view_models.troubles import ENGINE

    banners = Banners()
    t = banners.troubles
    t.after_reply(None, True, ended(ReplyStatus.ERROR, EngineCrashed("was killed (SIGKILL)"), words="It is"))
    assert banners.events == [
        (
            "said",
            ENGINE,
            "The engine stopped",
            "The llama.cpp engine stopped during the reply (it was killed (SIGKILL)); "
            "it starts again with your next turn.",
        )
    ]
    t.after_reply(None, True, ended(ReplyStatus.INTERRUPTED, ReplyCancelled(), words="Well"))
    assert banners.keys() == [("said", ENGINE)]  # a stopped reply says nothing of the engine
    t.after_reply(None, True, ended(ReplyStatus.COMPLETE, words="Hello there."))
    assert banners.keys() == [("said", ENGINE), ("cleared", ENGINE)]
