"""A grading worker: `python -m labkit.cohort.worker` reads one job (JSON) on stdin and prints
one JSON line per learner as soon as that learner is done.

The parent (:mod:`.grader`) starts one worker per core so grading is not bound
by one interpreter's lock, and keeps the cohort database and its tokens out of
the process that runs handed-in learner code. A job:

    {"op": "grade" | "setup", "lab": "sns-fanout", "endpoint": URL, "backend": "ministack",
     "allow_remote": false, "timeout": 20, "threads": 8,
     "learners": [{"account": "482910375512", "workspace": "/path/or/empty-dir"}]}
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from botocore.credentials import Credentials

from ..aws import DUMMY_SECRET, ApiMeter, ClientFactory, Endpoint
from ..checks import CheckContext, Fail

# Learner code runs with boto3's default session and os.environ pointed at one
# learner's account (labkit.aws.learner_code_environment): process-wide state,
# so one learner's code runs at a time. A learner whose code never returns only
# holds the others up to this many seconds.
_LEARNER_CODE = threading.RLock()
LEARNER_CODE_WAIT = 30.0


# -- one set of checker clients per worker, signing as the learner being graded --------------------------
# Creating a learner's botocore clients costs more CPU than a fifth of grading them
# (sessions, handler registration, endpoint rules), so a worker makes each client
# once. Every request then signs as the learner the calling thread is grading:
# _AccountClient records that learner in a thread-local on each use, and a
# `before-sign` handler hands botocore that account's credentials for this one
# request (botocore's per-request `request_credentials`). A thread with no
# learner fails the request instead of signing as anyone. Learner code keeps
# its own per-learner session (it may start threads of its own).
_current = threading.local()


def _sign_as_current_learner(request, **_):
    account = getattr(_current, "account", None)
    if account is None:
        raise RuntimeError("lab cohort worker: an AWS request outside any learner's grading")
    request.context.setdefault("signing", {})["request_credentials"] = Credentials(account, DUMMY_SECRET)


def _meter_before(**kwargs):
    meter = getattr(_current, "meter", None)
    if meter is not None:
        meter.before_send(**kwargs)


def _meter_after(**kwargs):
    meter = getattr(_current, "meter", None)
    if meter is not None:
        meter.response_received(**kwargs)


class SharedClients:
    """The worker's clients (from one guarded ClientFactory), shared by every learner it grades."""

    def __init__(self, url: str, allow_remote: bool, read_timeout: float):
        self.factory = ClientFactory(Endpoint(url, access_key="000000000000", allow_remote=allow_remote),
                                     read_timeout=read_timeout)
        self._clients: dict[tuple[str, str | None], object] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None):
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self.factory.client(service, region)
                client.meta.events.register("before-sign", _sign_as_current_learner)
                client.meta.events.register("before-send", _meter_before)
                client.meta.events.register("response-received", _meter_after)
                self._clients[key] = client
            return self._clients[key]


class _AccountClient:
    """A shared client seen by one learner: every use marks this thread as grading that learner."""

    __slots__ = ("_client", "_owner")

    def __init__(self, client, owner: "AccountFactory"):
        self._client = client
        self._owner = owner

    def __getattr__(self, name):
        self._owner.activate()
        return getattr(self._client, name)


class AccountFactory:
    """What a CheckContext needs of a ClientFactory, for one learner account over SharedClients."""

    def __init__(self, shared: SharedClients, account: str, read_timeout: float):
        self.endpoint = shared.factory.endpoint.with_access_key(account)
        self.meter = ApiMeter()
        self._shared = shared
        self._account = account
        self._read_timeout = read_timeout
        self._own: ClientFactory | None = None

    def activate(self) -> None:
        _current.account, _current.meter = self._account, self.meter

    def client(self, service: str, region: str | None = None):
        self.activate()
        return _AccountClient(self._shared.client(service, region), self)

    def learner_session(self):
        if self._own is None:
            self._own = ClientFactory(self.endpoint, meter=self.meter, read_timeout=self._read_timeout)
        return self._own.learner_session()


class CohortCheckContext(CheckContext):
    """A check context for one learner account among many graded in one process."""

    def learner_module(self, filename: str):
        if not _LEARNER_CODE.acquire(timeout=LEARNER_CODE_WAIT):
            raise Fail("The grader was busy with another learner's code that did not finish; grade again.")
        try:
            return super().learner_module(filename)
        finally:
            _LEARNER_CODE.release()

    def call_learner(self, fn, *args, **kwargs):
        if not _LEARNER_CODE.acquire(timeout=LEARNER_CODE_WAIT):
            raise Fail("The grader was busy with another learner's code that did not finish; grade again.")
        try:
            return super().call_learner(fn, *args, **kwargs)
        finally:
            _LEARNER_CODE.release()


def _context(lab, job: dict, learner: dict, shared: SharedClients) -> CohortCheckContext:
    from pathlib import Path

    factory = AccountFactory(shared, learner["account"], read_timeout=job.get("timeout", 20))
    return CohortCheckContext(lab, factory, Path(learner["workspace"]), job["backend"])


def run(job: dict, out=sys.stdout) -> None:
    from .. import catalog
    from ..grading import grade

    lab = catalog.get(job["lab"])
    checker = lab.checker()
    shared = SharedClients(job["endpoint"], job.get("allow_remote", False), job.get("timeout", 20))
    write_lock = threading.Lock()

    def emit(line: dict) -> None:
        with write_lock:
            out.write(json.dumps(line) + "\n")
            out.flush()

    def one(learner: dict) -> None:
        try:
            ctx = _context(lab, job, learner, shared)
            if job["op"] == "setup":
                if checker.setup_fn:
                    checker.setup_fn(ctx)
                emit({"account": learner["account"], "ok": True})
            else:
                report = grade(lab, checker, ctx, timeout=job.get("timeout", 20))
                emit({"account": learner["account"], "ok": True, "report": report.to_json()})
        except Exception as exc:  # noqa: BLE001 - one learner's trouble must not stop the others
            emit({"account": learner["account"], "ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]})

    with ThreadPoolExecutor(max_workers=max(1, int(job.get("threads", 8))), thread_name_prefix="grade") as pool:
        list(pool.map(one, job["learners"]))


def main() -> None:
    job = json.loads(sys.stdin.read())
    run(job)


if __name__ == "__main__":
    main()
