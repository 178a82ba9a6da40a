"""Single-key input for `lab watch` (h for a hint, q to quit) without blocking the loop."""

from __future__ import annotations

import contextlib
import os
import sys
import time


class PosixKeys:
    def __init__(self, stream):
        self.stream = stream

    def read(self, timeout: float) -> str | None:
        import select

        ready, _, _ = select.select([self.stream], [], [], timeout)
        if not ready:
            return None
        return os.read(self.stream.fileno(), 1).decode(errors="ignore") or None


class WindowsKeys:
    def read(self, timeout: float) -> str | None:
        import msvcrt

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if msvcrt.kbhit():
                return msvcrt.getwch()
            time.sleep(0.05)
        return None


@contextlib.contextmanager
def single_keys(stream=None):
    """Yield a key reader in cbreak mode, or None when stdin is not a terminal."""
    stream = stream or sys.stdin
    if not stream.isatty():
        yield None
        return
    if os.name == "nt":
        yield WindowsKeys()
        return
    import termios
    import tty

    saved = termios.tcgetattr(stream.fileno())
    try:
        tty.setcbreak(stream.fileno())
        yield PosixKeys(stream)
    finally:
        termios.tcsetattr(stream.fileno(), termios.TCSADRAIN, saved)
