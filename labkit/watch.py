"""`lab watch`: re-grade when the learner changes something, and stay idle otherwise.

Each poll costs one fingerprint (a handful of list/describe calls, see
fingerprint.py); a full check runs only when the fingerprint moves. The
fingerprint is taken after each check, so a check's own probes never trigger
the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import emulator
from .fingerprint import fingerprint
from .grading import LabReport, grade
from .progress import ProgressStore
from .session import make_context, record_check

POLL_SECONDS = 1.0


@dataclass
class WatchEvent:
    report: LabReport | None  # a new grading, or None when nothing changed
    emulator_down: bool = False


class Watcher:
    def __init__(self, lab, store: ProgressStore | None = None, timeout: float = 20.0):
        self.lab = lab
        self.checker = lab.checker()
        self.store = store or ProgressStore()
        self.timeout = timeout
        self._context = None
        self._last_print: str | None = None
        self.last_report: LabReport | None = None

    def _ctx(self):
        if self._context is None:
            _, state = emulator.require_endpoint(self.lab.id)
            self._context = make_context(self.lab, state, read_timeout=self.timeout)
        return self._context

    def poll(self) -> WatchEvent:
        """Grade if something changed since the last grading (always, the first time)."""
        try:
            ctx = self._ctx()
            if self._last_print is not None and fingerprint(ctx, self.checker) == self._last_print:
                return WatchEvent(None)
            report = grade(self.lab, self.checker, ctx, timeout=self.timeout)
        except Exception as problem:  # noqa: BLE001 - the emulator went away; keep watching
            if not _looks_like_emulator_down(problem):
                raise
            self._context, self._last_print = None, None
            return WatchEvent(None, emulator_down=True)
        if report.emulator_lost:
            self._context, self._last_print = None, None
            return WatchEvent(report, emulator_down=True)
        record_check(self.lab, report, self.store)
        self._last_print = fingerprint(ctx, self.checker)
        self.last_report = report
        return WatchEvent(report)

    def first_unfinished(self):
        if self.last_report is None:
            return None
        return next((t for t in self.last_report.tasks if t.status != "pass"), None)


def _looks_like_emulator_down(problem: Exception) -> bool:
    from botocore.exceptions import ReadTimeoutError

    from .checks import CONNECTION_LOST
    from .errors import EmulatorError

    return isinstance(problem, (EmulatorError, ReadTimeoutError, *CONNECTION_LOST))


def sleep_or_key(seconds: float, keys) -> str | None:
    """Wait up to `seconds`; return a key the user pressed meanwhile (None without a terminal)."""
    if keys is None:
        time.sleep(seconds)
        return None
    return keys.read(seconds)
