"""Global shortcuts on X11: a passive key grab on the root window through libxcb (ctypes), press and release."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import time

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

from voxtral_desktop.core.shortcuts import Shortcut
from voxtral_desktop.ui.push_to_talk import RELEASE_GRACE_MS

log = logging.getLogger(__name__)

# Why ctypes on libxcb and not python-xlib: no new dependency (Qt's xcb platform already loads libxcb and
# libX11), and xcb reports a failed grab as the reply to that one request, where Xlib would call a
# process-wide error handler that Qt's own connection shares.
# The usual modifier bits (the core protocol's Shift, Lock, Control, Mod1-5): Alt is Mod1, NumLock Mod2 and
# Super Mod4 on every layout the X.Org and XWayland servers ship.
MASKS = {"Shift": 1, "Ctrl": 4, "Alt": 8, "Super": 64}
LOCK, NUM_LOCK = 2, 16
# A grab matches the modifier state exactly: also grab with CapsLock and NumLock on, or the shortcut dies
# whenever one of them is lit.
LOCK_VARIANTS = (0, LOCK, NUM_LOCK, LOCK | NUM_LOCK)
KEY_PRESS, KEY_RELEASE = 2, 3
BAD_ACCESS = 10  # another client holds that grab
GRAB_MODE_ASYNC = 1


class _ScreenIterator(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int)]


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _KeyEvent(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("detail", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("time", ctypes.c_uint32),
        ("root", ctypes.c_uint32),
        ("event", ctypes.c_uint32),
        ("child", ctypes.c_uint32),
        ("root_x", ctypes.c_int16),
        ("root_y", ctypes.c_int16),
        ("event_x", ctypes.c_int16),
        ("event_y", ctypes.c_int16),
        ("state", ctypes.c_uint16),
    ]


class _Error(ctypes.Structure):
    _fields_ = [("response_type", ctypes.c_uint8), ("error_code", ctypes.c_uint8)]


class X11Unavailable(Exception):
    """No X server to grab keys on (or its libraries are missing); the message says which."""


def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL, ctypes.CDLL, ctypes.CDLL]:
    names = {"xcb": "libxcb.so.1", "keysyms": "libxcb-keysyms.so.1", "x11": "libX11.so.6"}
    try:
        libs = {key: ctypes.CDLL(name) for key, name in names.items()}
    except OSError as e:
        raise X11Unavailable(f"the X11 libraries are missing ({e})") from e
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    xcb, keysyms, x11 = libs["xcb"], libs["keysyms"], libs["x11"]
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    for name in ("xcb_connection_has_error", "xcb_get_file_descriptor", "xcb_flush"):
        getattr(xcb, name).argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    xcb.xcb_get_setup.restype = ctypes.c_void_p
    xcb.xcb_get_setup.argtypes = [ctypes.c_void_p]
    xcb.xcb_setup_roots_iterator.restype = _ScreenIterator
    xcb.xcb_setup_roots_iterator.argtypes = [ctypes.c_void_p]
    xcb.xcb_screen_next.argtypes = [ctypes.POINTER(_ScreenIterator)]
    xcb.xcb_grab_key_checked.restype = _Cookie
    xcb.xcb_grab_key_checked.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint8,
        ctypes.c_uint32,
        ctypes.c_uint16,
        ctypes.c_uint8,
        ctypes.c_uint8,
        ctypes.c_uint8,
    ]
    xcb.xcb_ungrab_key.restype = _Cookie
    xcb.xcb_ungrab_key.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint16]
    xcb.xcb_request_check.restype = ctypes.POINTER(_Error)
    xcb.xcb_request_check.argtypes = [ctypes.c_void_p, _Cookie]
    xcb.xcb_poll_for_event.restype = ctypes.c_void_p
    xcb.xcb_poll_for_event.argtypes = [ctypes.c_void_p]
    keysyms.xcb_key_symbols_alloc.restype = ctypes.c_void_p
    keysyms.xcb_key_symbols_alloc.argtypes = [ctypes.c_void_p]
    keysyms.xcb_key_symbols_free.argtypes = [ctypes.c_void_p]
    keysyms.xcb_key_symbols_get_keycode.restype = ctypes.POINTER(ctypes.c_uint8)
    keysyms.xcb_key_symbols_get_keycode.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    x11.XStringToKeysym.restype = ctypes.c_ulong
    x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
    libc.free.argtypes = [ctypes.c_void_p]
    return xcb, keysyms, x11, libc


class X11Keys(QObject):
    """Grabs each action's key combination on the root window of its own X connection; ``pressed(action)``
    and ``released(action, perf_counter at the let-go)`` follow. The grab takes the key from every other
    client while it is held. The server's auto-repeat of a held key (release+press pairs) is told apart as
    the window's Space is: a release counts once no press of that key followed within RELEASE_GRACE_MS."""

    pressed = Signal(str)
    released = Signal(str, float)

    def __init__(self, display: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        display = display if display is not None else os.environ.get("DISPLAY", "")
        if not display:
            raise X11Unavailable("DISPLAY is not set")
        self._xcb, self._keysyms, self._x11, self._libc = _libraries()
        screen = ctypes.c_int(0)
        self._conn = self._xcb.xcb_connect(display.encode(), ctypes.byref(screen))
        if not self._conn or self._xcb.xcb_connection_has_error(self._conn):
            self._conn = None
            raise X11Unavailable(f"cannot connect to the X server at {display}")
        roots = self._xcb.xcb_setup_roots_iterator(self._xcb.xcb_get_setup(self._conn))
        for _ in range(screen.value):
            self._xcb.xcb_screen_next(ctypes.byref(roots))
        self._root = ctypes.cast(roots.data, ctypes.POINTER(ctypes.c_uint32))[0]  # xcb_screen_t.root
        self._symbols = self._keysyms.xcb_key_symbols_alloc(self._conn)
        self._grabs: dict[tuple[int, int], str] = {}  # (keycode, modifiers without locks) -> action
        self._held: dict[int, str] = {}  # keycode -> action, while held
        self._let_go: dict[int, tuple[QTimer, float]] = {}
        self._notifier = QSocketNotifier(
            self._xcb.xcb_get_file_descriptor(self._conn), QSocketNotifier.Type.Read, self
        )
        self._notifier.activated.connect(self._drain)

    def grab(self, action: str, shortcut: Shortcut) -> str | None:
        """Take ``shortcut`` for ``action``: None when done, else why not, in words."""
        keysym = self._x11.XStringToKeysym(shortcut.key.encode())
        codes = self._keycodes(keysym) if keysym else []
        if not codes:
            return f"{shortcut.text()}: this keyboard layout has no {shortcut.key} key"
        mods = 0
        for name in shortcut.modifiers:
            mods |= MASKS[name]
        done: list[tuple[int, int]] = []
        for code in codes:
            for extra in LOCK_VARIANTS:
                cookie = self._xcb.xcb_grab_key_checked(
                    self._conn, 0, self._root, mods | extra, code, GRAB_MODE_ASYNC, GRAB_MODE_ASYNC
                )
                error = self._xcb.xcb_request_check(self._conn, cookie)
                if error:
                    code_error = error.contents.error_code
                    self._libc.free(error)
                    for grabbed_code, grabbed_mods in done:
                        self._xcb.xcb_ungrab_key(self._conn, grabbed_code, self._root, grabbed_mods)
                    self._xcb.xcb_flush(self._conn)
                    if code_error == BAD_ACCESS:
                        return f"{shortcut.text()} is already taken by another application"
                    return f"{shortcut.text()} could not be taken (X error {code_error})"
                done.append((code, mods | extra))
        for code in codes:
            self._grabs[(code, mods)] = action
        log.info("X11: grabbed %s for %s (keycodes %s)", shortcut.text(), action, codes)
        self._drain()  # checking the grabs read whatever events had arrived meanwhile
        return None

    def ungrab_all(self) -> None:
        if self._conn is None:
            return
        for code, mods in self._grabs:
            for extra in LOCK_VARIANTS:
                self._xcb.xcb_ungrab_key(self._conn, code, self._root, mods | extra)
        self._xcb.xcb_flush(self._conn)
        self._grabs.clear()
        for timer, _ in self._let_go.values():
            timer.stop()
        self._let_go.clear()
        self._held.clear()

    def close(self) -> None:
        if self._conn is None:
            return
        self.ungrab_all()
        self._notifier.setEnabled(False)
        self._keysyms.xcb_key_symbols_free(self._symbols)
        self._xcb.xcb_disconnect(self._conn)
        self._conn = None

    def _keycodes(self, keysym: int) -> list[int]:
        found = self._keysyms.xcb_key_symbols_get_keycode(self._symbols, keysym)
        if not found:
            return []
        codes = []
        i = 0
        while found[i]:
            codes.append(int(found[i]))
            i += 1
        self._libc.free(found)
        return codes

    def _drain(self, *_: object) -> None:
        while self._conn is not None:
            event = self._xcb.xcb_poll_for_event(self._conn)
            if not event:
                break
            key = ctypes.cast(event, ctypes.POINTER(_KeyEvent)).contents
            kind, code, state = key.response_type & 0x7F, key.detail, key.state
            self._libc.free(event)
            if kind == KEY_PRESS:
                self._on_press(code, state)
            elif kind == KEY_RELEASE:
                self._on_release(code)

    def _on_press(self, code: int, state: int) -> None:
        pending = self._let_go.pop(code, None)
        if pending is not None:
            pending[0].stop()  # the release just before was the server's auto-repeat: still held
            return
        if code in self._held:
            return
        action = self._grabs.get((code, state & ~(LOCK | NUM_LOCK)))
        if action is None:
            return
        self._held[code] = action
        self.pressed.emit(action)

    def _on_release(self, code: int) -> None:
        # The let-go counts whatever modifiers are still down: people let go of Ctrl before the key, or after.
        if code not in self._held or code in self._let_go:
            return
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: self._released(code))
        self._let_go[code] = (timer, time.perf_counter())
        timer.start(RELEASE_GRACE_MS)

    def _released(self, code: int) -> None:
        pending = self._let_go.pop(code, None)
        action = self._held.pop(code, None)
        if pending is not None and action is not None:
            self.released.emit(action, pending[1])
