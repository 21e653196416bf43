"""Global shortcut text ("Ctrl+Alt+Space") read into modifiers and one key, with the reason when it cannot be."""

from __future__ import annotations

from dataclasses import dataclass

# The spellings people and Qt's QKeySequence.toString() use, to the one name each modifier has here.
MODIFIERS = {
    "ctrl": "Ctrl",
    "control": "Ctrl",
    "alt": "Alt",
    "shift": "Shift",
    "meta": "Super",
    "super": "Super",
    "win": "Super",
    "logo": "Super",
}
ORDER = ("Ctrl", "Alt", "Shift", "Super")  # as desktops write them
# A shortcut without a modifier would take the key from every other application (Space, a letter).
NEEDS_MODIFIER = (
    "needs Ctrl, Alt, Shift or Super with the key, or every other application would lose that key"
)
NAMED_KEYS = {
    "space": "space",
    "return": "Return",
    "enter": "Return",
    "tab": "Tab",
    "backspace": "BackSpace",
    "pause": "Pause",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pgup": "Prior",
    "pgdown": "Next",
    "pageup": "Prior",
    "pagedown": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "menu": "Menu",
    "print": "Print",
    "scrolllock": "Scroll_Lock",
    "f1": "F1",
    "f2": "F2",
    "f3": "F3",
    "f4": "F4",
    "f5": "F5",
    "f6": "F6",
    "f7": "F7",
    "f8": "F8",
    "f9": "F9",
    "f10": "F10",
    "f11": "F11",
    "f12": "F12",
}


@dataclass(frozen=True)
class Shortcut:
    """``modifiers``: Ctrl/Alt/Shift/Super in that order; ``key``: the X keysym name (``space``, ``h``)."""

    modifiers: tuple[str, ...]
    key: str

    def text(self) -> str:
        """As the user writes it: ``Ctrl+Alt+Space``."""
        key = self.key if len(self.key) > 1 else self.key.upper()
        return "+".join((*self.modifiers, key.capitalize() if key == "space" else key))

    def xdg_trigger(self) -> str:
        """The XDG shortcuts specification's spelling (the portal's ``preferred_trigger``): ``CTRL+ALT+space``."""
        names = {"Ctrl": "CTRL", "Alt": "ALT", "Shift": "SHIFT", "Super": "LOGO"}
        return "+".join((*(names[m] for m in self.modifiers), self.key))


class ShortcutError(ValueError):
    """A shortcut's text cannot be used; the message says why, in words."""


def parse_shortcut(text: str) -> Shortcut:
    """``Ctrl+Alt+Space`` -> Shortcut(("Alt", "Ctrl"), "space"); ShortcutError says what is wrong."""
    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise ShortcutError(f"{text!r} is not a shortcut: write it as Ctrl+Alt+Space")
    *mods, key = parts
    modifiers = set()
    for mod in mods:
        name = MODIFIERS.get(mod.lower())
        if name is None:
            raise ShortcutError(f"{mod!r} in {text!r} is not a modifier (Ctrl, Alt, Shift or Super)")
        modifiers.add(name)
    if key.lower() in MODIFIERS:
        raise ShortcutError(f"{text!r} ends with a modifier: it needs a key too, as in Ctrl+Alt+Space")
    if not modifiers:
        raise ShortcutError(f"{text!r} {NEEDS_MODIFIER}")
    if len(key) == 1 and key.isprintable():
        name = key.lower()
    elif key.lower() in NAMED_KEYS:
        name = NAMED_KEYS[key.lower()]
    else:
        raise ShortcutError(
            f"{key!r} in {text!r} is not a key this app can bind (a letter, digit, Space, F1-F12...)"
        )
    return Shortcut(tuple(m for m in ORDER if m in modifiers), name)


def check_shortcut(text: str) -> str | None:
    """For the settings' checks: None when ``text`` is a usable shortcut, else why not."""
    try:
        parse_shortcut(text)
    except ShortcutError as e:
        return f"is not usable: {e}"
    return None
