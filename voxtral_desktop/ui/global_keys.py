"""Global shortcuts, one door: the desktop portal on Wayland, a key grab on X11, or none, and why, in words."""

from __future__ import annotations

import logging
import os
from enum import StrEnum

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication

from voxtral_desktop.core.config import Config
from voxtral_desktop.core.shortcuts import Shortcut, ShortcutError, parse_shortcut

log = logging.getLogger(__name__)

PUSH_TO_TALK, HANDS_FREE = "push_to_talk", "hands_free"
ACTIONS = (PUSH_TO_TALK, HANDS_FREE)
SPACE_STILL_WORKS = "Space still works while the window has the focus."


class Route(StrEnum):
    PORTAL = "portal"  # org.freedesktop.portal.GlobalShortcuts (Wayland; the desktop asks the user once)
    X11 = "x11"  # a passive key grab on the X root window
    NONE = "none"


def wayland_session() -> bool:
    """On Wayland (natively, or through XWayland, where a key grab only sees X clients) only the portal works."""
    platform = QGuiApplication.platformName() if QGuiApplication.instance() is not None else ""
    return platform.startswith("wayland") or os.environ.get("XDG_SESSION_TYPE", "") == "wayland"


class GlobalKeys(QObject):
    """``pressed(action)`` and ``released(action, perf_counter at the let-go)`` for ``push_to_talk`` and
    ``hands_free``, whichever application has the keyboard. ``route`` says how, ``status`` says so in words
    (what works, or why not); ``statusChanged`` follows it. ``start()`` and ``apply_settings()`` are
    coroutines: the portal asks the desktop, which may ask the user."""

    pressed = Signal(str)
    released = Signal(str, float)
    statusChanged = Signal(str, bool)  # the words, and whether they are a problem

    def __init__(self, config: Config, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.route = Route.NONE
        self.status = ""
        self.trouble = False
        self._x11: object | None = None
        self._portal: object | None = None
        self._bound: dict[str, str] = {}  # action -> the shortcut text bound now

    def wanted(self) -> dict[str, str]:
        return {
            PUSH_TO_TALK: self.config.shortcuts.push_to_talk,
            HANDS_FREE: self.config.shortcuts.hands_free,
        }

    async def start(self) -> None:
        """Bind the shortcuts the settings name, by the route this session allows."""
        shortcuts, problems = self._parse()
        if wayland_session():
            await self._start_portal(shortcuts, problems)
        elif os.environ.get("DISPLAY"):
            self._start_x11(shortcuts, problems)
        else:
            self._say(
                Route.NONE,
                f"Global shortcuts are off: there is no X11 display and no Wayland session. {SPACE_STILL_WORKS}",
                True,
            )

    async def apply_settings(self, *_: object) -> None:
        """Settings saved: bind again if a shortcut changed."""
        if self.wanted() != self._bound:
            await self.close()
            await self.start()

    def _parse(self) -> tuple[dict[str, Shortcut], list[str]]:
        shortcuts: dict[str, Shortcut] = {}
        problems: list[str] = []
        for action, text in self.wanted().items():
            try:
                shortcut = parse_shortcut(text)
            except ShortcutError as e:
                problems.append(str(e))
                continue
            clash = next((a for a, s in shortcuts.items() if s == shortcut), None)
            if clash is not None:
                problems.append(
                    f"{shortcut.text()} is set for both push-to-talk and hands-free: it does push-to-talk only;"
                    " choose another for hands-free in Settings"
                )
                continue
            shortcuts[action] = shortcut
        return shortcuts, problems

    def _start_x11(self, shortcuts: dict[str, Shortcut], problems: list[str]) -> None:
        from voxtral_desktop.ui.x11_keys import X11Keys, X11Unavailable

        try:
            keys = X11Keys(parent=self)
        except X11Unavailable as e:
            self._say(Route.NONE, f"Global shortcuts are off: {e}. {SPACE_STILL_WORKS}", True)
            return
        keys.pressed.connect(self.pressed)
        keys.released.connect(self.released)
        self._x11 = keys
        for action, shortcut in shortcuts.items():
            why = keys.grab(action, shortcut)
            if why is None:
                self._bound[action] = self.wanted()[action]
            else:
                problems.append(f"{why}: choose another in Settings")
        self._report(Route.X11, {a: parse_shortcut(t).text() for a, t in self._bound.items()}, problems)

    async def _start_portal(self, shortcuts: dict[str, Shortcut], problems: list[str]) -> None:
        from voxtral_desktop.ui.portal_keys import PortalKeys, PortalRefused, PortalUnavailable

        portal = PortalKeys(self)
        portal.pressed.connect(self.pressed)
        portal.released.connect(self.released)
        self._portal = portal
        try:
            bound = await portal.bind(shortcuts)
        except PortalUnavailable as e:
            self._say(Route.NONE, f"Global shortcuts are off on Wayland: {e}. {SPACE_STILL_WORKS}", True)
            return
        except PortalRefused as e:
            self._say(Route.NONE, f"Global shortcuts are off: {e}. {SPACE_STILL_WORKS}", True)
            return
        self._bound = {a: self.wanted()[a] for a in bound}

        def report() -> None:
            missing = [a for a in shortcuts if a not in portal.bound]
            said = [f"the desktop did not bind {shortcuts[a].text()}" for a in missing]
            # The desktop's own description of each trigger: the user may have picked another in its dialog.
            triggers = {a: t or shortcuts[a].text() for a, t in portal.bound.items() if a in shortcuts}
            self._report(Route.PORTAL, triggers, problems + said)

        portal.changed.connect(report)
        report()

    def _report(self, route: Route, working: dict[str, str], problems: list[str]) -> None:
        parts = []
        if PUSH_TO_TALK in working:
            parts.append(f"hold {working[PUSH_TO_TALK]} to talk")
        if HANDS_FREE in working:
            parts.append(f"{working[HANDS_FREE]} turns hands-free on or off")
        how = "through your desktop" if route == Route.PORTAL else "X11"
        text = f"From any application ({how}): {', '.join(parts)}." if parts else "Global shortcuts are off."
        if problems:
            text += " " + "; ".join(p[0].upper() + p[1:] for p in problems) + "."
        self._say(route if working else Route.NONE, text, bool(problems))

    def _say(self, route: Route, text: str, trouble: bool) -> None:
        self.route, self.status, self.trouble = route, text, trouble
        (log.warning if trouble else log.info)("global shortcuts: %s", text)
        self.statusChanged.emit(text, trouble)

    async def close(self) -> None:
        from voxtral_desktop.ui.portal_keys import PortalKeys
        from voxtral_desktop.ui.x11_keys import X11Keys

        x11, portal = self._x11, self._portal
        self._x11 = self._portal = None
        self._bound = {}
        self.route = Route.NONE
        if isinstance(x11, X11Keys):
            x11.close()
            x11.deleteLater()
        if isinstance(portal, PortalKeys):
            await portal.close()  # its parent (this) may be gone by now when the app is quitting
