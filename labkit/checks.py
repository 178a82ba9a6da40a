"""What a lab author writes against: a Checker with setup, one check per task, and solve.

    checker = Checker("sns-fanout")

    @checker.task("create-topic")
    def create_topic(ctx):
        topic = ...
        if topic is None:
            raise Fail("No SNS topic named RideCompleted yet; expected a standard topic.")
        return f"Topic {topic} exists."

A check returns its pass message, raises :class:`Fail` with what was found and
what was expected, and anything else it raises becomes an ``error`` for that
task only.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from .aws import ClientFactory, learner_code_environment
from .backends import http_answers
from .recording import RequestLog, recording

# What a dead or vanished emulator looks like to a client (grading and watch use it too).
CONNECTION_LOST = (EndpointConnectionError, ConnectionClosedError, ConnectionError)


class Fail(Exception):
    """The learner's setup is not right yet; the message says what and why."""


class Inconclusive(Exception):
    """The check cannot reach a verdict, through no mistake of the learner's and no bug of
    ours (e.g. a queue too long to read within the time limit): the task is an `error`
    whose message is this one sentence, saying what to do."""


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise Fail(message)


@dataclass
class LearnerRun:
    """One call of learner code: what it returned (or the Fail it became) and every AWS
    request it sent (see labkit/recording.py), for checks that grade how code works."""

    result: Any = None
    failure: str | None = None
    requests: RequestLog = field(default_factory=RequestLog)

    def value(self) -> Any:
        """The result, or the Fail the call became."""
        if self.failure is not None:
            raise Fail(self.failure)
        return self.result


CheckFn = Callable[["CheckContext"], str]
_FIXTURE_LOCKS_LOCK = threading.Lock()


class Checker:
    def __init__(self, lab_id: str):
        self.lab_id = lab_id
        self.checks: dict[str, CheckFn] = {}
        self.setup_fn: Callable[[CheckContext], None] | None = None
        self.solve_fn: Callable[[CheckContext], None] | None = None
        self.cleanup_fn: Callable[[CheckContext], None] | None = None
        self.reports: dict[str, Callable[[CheckContext], str]] = {}
        self.fingerprint_fn: Callable[[CheckContext], object] | None = None

    def task(self, task_id: str):
        def register(fn: CheckFn) -> CheckFn:
            self.checks[task_id] = fn
            return fn

        return register

    def setup(self, fn):
        """Create the lab's starting resources (idempotent: `lab start` may run twice)."""
        self.setup_fn = fn
        return fn

    def solve(self, fn):
        """Apply the reference solution (idempotent)."""
        self.solve_fn = fn
        return fn

    def report(self, name: str):
        """Register a read-only report (`lab report LAB NAME`) that returns Markdown text."""

        def register(fn):
            self.reports[name] = fn
            return fn

        return register

    def fingerprint(self, fn):
        """Optional: a JSON-able summary of the lab's resources for `lab watch` to compare
        (the default lists the lab's services; see labkit/fingerprint.py)."""
        self.fingerprint_fn = fn
        return fn

    def cleanup(self, fn):
        """Remove every resource the lab and its solution create (`lab reset`)."""
        self.cleanup_fn = fn
        return fn


class CheckContext:
    """Everything a check may use: clients, the learner workspace, shared fixtures."""

    def __init__(self, lab, factory: ClientFactory, workspace: Path, backend: str):
        self.lab = lab
        self.factory = factory
        self.endpoint = factory.endpoint
        self.workspace = workspace
        self.backend = backend
        self.begin_run()

    def begin_run(self) -> None:
        """Forget the previous run's fixtures and take a new run id (grading calls this)."""
        # Unique per check run: probes carry it so concurrent checks never touch each other's.
        self.run_id = "chk-" + uuid.uuid4().hex[:10]
        self._fixtures: dict[Callable, tuple[bool, Any]] = {}
        self._fixture_locks: dict[Callable, threading.Lock] = {}

    @property
    def delivery_grace(self) -> float:
        """How long to wait for an asynchronous delivery (SNS -> SQS, S3 -> SQS) before
        calling it missing: the embedded engines deliver before the publish call returns."""
        return 0.5 if self.backend in ("ministack", "moto") else 3.0

    def client(self, service: str, region: str | None = None):
        return self.factory.client(service, region)

    def exclusive(self, name: str, timeout: float = 15.0):
        """A lock shared by every `lab` process of this LAB_HOME, for a probe that another
        check's probe would disturb (e.g. buckets appearing and vanishing during an audit of
        all buckets). Waiting longer than `timeout` is Inconclusive, not the learner's fail."""
        return _ExclusiveProbe(name, timeout)

    def lab_file(self, relative: str) -> Path:
        return self.lab.folder / relative

    def fixture(self, fn: Callable[["CheckContext"], Any]) -> Any:
        """Compute fn(ctx) once per check run and share it (probes serve several tasks).

        A fixture that raises re-raises the same exception for every task that uses it.
        Computed once even when a task that timed out is still computing it in the
        background: the next task waits for that result (within its own time limit)
        rather than running the same probe, with the same run id, a second time.
        """
        fixtures, locks = self._fixtures, self._fixture_locks  # this run's, even if a new run begins
        with _FIXTURE_LOCKS_LOCK:
            lock = locks.setdefault(fn, threading.Lock())
        with lock:
            if fn not in fixtures:
                try:
                    fixtures[fn] = (True, fn(self))
                except BaseException as exc:  # noqa: BLE001 - replayed to each dependent task
                    fixtures[fn] = (False, exc)
        ok, value = fixtures[fn]
        if ok:
            return value
        raise value

    # -- learner code --------------------------------------------------------
    def learner_module(self, filename: str):
        """Import a file from the learner workspace afresh, or Fail saying why it cannot be."""
        path = self.workspace / filename
        if not path.is_file():
            raise Fail(f"{filename} is not in your workspace ({self.workspace}); expected it there.")
        name = f"_learner_{path.stem}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(self.workspace))
        try:
            with learner_code_environment(self.factory):
                spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise Fail(f"{filename} has a syntax error on line {exc.lineno}: {exc.msg}.") from None
        except Exception as exc:  # noqa: BLE001 - the learner's code, not ours
            if self._emulator_gone(exc):
                raise
            raise Fail(f"Importing {filename} raised {_describe_learner_error(exc, path)}.") from None
        finally:
            sys.path.remove(str(self.workspace))
        return module

    def _emulator_gone(self, exc: Exception) -> bool:
        """Learner code lost its connection because the emulator died (not because the code
        points somewhere wrong): the check ends as the emulator's error, not the learner's fail."""
        return isinstance(exc, CONNECTION_LOST) and not http_answers(self.endpoint.url, timeout=2)

    def learner_function(self, filename: str, name: str) -> Callable:
        module = self.learner_module(filename)
        fn = getattr(module, name, None)
        if not callable(fn):
            raise Fail(f"{filename} has no function {name}(); expected one.")
        return fn

    def call_learner(self, fn: Callable, *args, **kwargs):
        """Call learner code against the emulator; its exceptions become a Fail."""
        try:
            with learner_code_environment(self.factory):
                return fn(*args, **kwargs)
        except NotImplementedError as exc:
            raise Fail(f"{fn.__name__}() is not implemented yet ({exc or 'NotImplementedError'}).") from None
        except Exception as exc:  # noqa: BLE001 - the learner's code, not ours
            if self._emulator_gone(exc):
                raise
            source = Path(getattr(fn, "__code__", None).co_filename) if hasattr(fn, "__code__") else None
            raise Fail(f"{fn.__name__}() raised {_describe_learner_error(exc, source)}.") from None

    def run_learner(self, fn: Callable, *args, services: tuple[str, ...] = (), **kwargs) -> LearnerRun:
        """Call learner code and record every AWS request it sends (of `services`, or all).

        A context that runs learner code elsewhere (a sandbox) overrides this and
        `call_learner`, and fills `requests` from what it observed."""
        with recording(*services) as log:
            try:
                return LearnerRun(self.call_learner(fn, *args, **kwargs), None, log)
            except Fail as failure:
                return LearnerRun(None, str(failure), log)


def _describe_learner_error(exc: Exception, path: Path | None) -> str:
    """`ValueError: bad fare (ride_service.py line 12)`: the learner's own frame, not ours."""
    where = ""
    if path is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        if frames:
            where = f" ({path.name} line {frames[-1].lineno})"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}{where}"


class _ExclusiveProbe:
    def __init__(self, name: str, timeout: float):
        from filelock import FileLock

        from .home import lab_home

        folder = lab_home() / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        self.name, self.timeout = name, timeout
        self.lock = FileLock(str(folder / f"{name}.lock"))

    def __enter__(self):
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=self.timeout)
        except Timeout:
            raise Inconclusive(f"Another `lab check` held the {self.name} probe for over {self.timeout:g} s; "
                               "run `lab check` again.") from None
        return self

    def __exit__(self, *exc):
        self.lock.release()
        return False
