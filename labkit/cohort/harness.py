"""Drive a real `lab cohort serve` from tests and benchmarks: start it, talk to it, stop it.

Not used by the CLI. The server runs as the real command in a subprocess with
its own LAB_HOME, so what is tested is what a facilitator runs.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

from ..backends import free_port
from ..home import REPO_ROOT
from . import protocol
from .roster import RosterEntry
from .store import CohortStore, set_current


def make_cohort(home: Path, learners: int | list[str] = 3, labs: tuple[str, ...] = ("sns-fanout",),
                name: str = "workshop", url: str = "http://127.0.0.1:4566", engine: str = "ministack") -> tuple[CohortStore, str]:
    """A cohort under home/cohorts/NAME with learners named learner-01... (or the given names)."""
    names = [f"Learner {index:02d}" for index in range(1, learners + 1)] if isinstance(learners, int) else learners
    entries = [RosterEntry(f"learner-{index:02d}", name_, f"learner-{index:02d}@example.org", index)
               for index, name_ in enumerate(names, 1)]
    previous = os.environ.get("LAB_HOME")
    os.environ["LAB_HOME"] = str(home)
    try:
        store, token = CohortStore.create(name, entries, list(labs), url, engine, root=home / "cohorts")
        set_current(name)
    finally:
        if previous is None:
            os.environ.pop("LAB_HOME", None)
        else:
            os.environ["LAB_HOME"] = previous
    return store, token


class Server:
    """`lab cohort serve` in a subprocess on a free port (loopback)."""

    def __init__(self, home: Path, cohort: str = "workshop", engine: str | None = "ministack", *extra: str,
                 tls: tuple[str, str] | None = None):
        self.home = Path(home)
        self.cohort = cohort
        self.engine = engine
        self.extra = extra
        self.tls = tls  # (certfile, keyfile): serve HTTPS, and trust that certificate here
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.ssl_context = ssl.create_default_context(cafile=tls[0]) if tls else None
        self.process: subprocess.Popen | None = None
        self.log = self.home / f"serve-{self.port}.log"

    def env(self) -> dict[str, str]:
        return {**os.environ, "LAB_HOME": str(self.home), "NO_COLOR": "1", "COLUMNS": "200"}

    def start(self, timeout: float = 60) -> "Server":
        engine_args = ["--no-emulator"] if self.engine is None else ["--engine", self.engine]
        tls_args = ["--certfile", self.tls[0], "--keyfile", self.tls[1]] if self.tls else []
        command = [sys.executable, str(REPO_ROOT / "lab.py"), "cohort", "--cohort", self.cohort, "serve",
                   "--port", str(self.port), *engine_args, *tls_args, *self.extra]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lab cohort serve exited ({self.process.returncode}): {self.log.read_text()[-2000:]}")
            if http("GET", self.url + "/_cohort/healthz", timeout=1, context=self.ssl_context)[0] == 200:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"lab cohort serve did not come up: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def engine_state(self):
        from . import engine as engine_module

        return engine_module.engine_state(CohortStore(self.home / "cohorts" / self.cohort))

    def pids(self) -> list[int]:
        state = self.engine_state()
        return [pid for pid in (self.process.pid if self.process else None, state.pid if state else None) if pid]


# -- HTTP -----------------------------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as it is (tests look at its Set-Cookie and Location)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 10, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body); redirects are returned, not followed; 0 when nothing answers."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:  # noqa: S310 - loopback tests
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def now_iso(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_payload(store: CohortStore, account: str, lab, statuses: dict[str, str], at: str | None = None,
                  nonce: str | None = None, hints: dict | None = None, files: dict | None = None,
                  started_at: str | None = None) -> dict:
    """A check submission as a learner's `lab` would build it; unlisted tasks fail."""
    tasks = [{"id": task.id, "title": task.title, "status": statuses.get(task.id, "fail"),
              "message": "passed" if statuses.get(task.id) == "pass" else f"{task.id} is not done yet"}
             for task in lab.spec.tasks]
    report = {"lab": lab.id, "passed": sum(t["status"] == "pass" for t in tasks), "total": len(tasks), "tasks": tasks}
    return {"v": 1, "kind": "check", "cohort": store.cohort_id, "learner": account, "lab": lab.id,
            "at": at or now_iso(), "nonce": nonce or uuid.uuid4().hex, "report": report,
            "progress": {"started_at": started_at, "hints": hints or {}, "attempts": 1}, "files": files or {}}


def submit(url: str, document: dict | bytes, timeout: float = 10) -> tuple[int, dict]:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    status, _, raw = http("POST", url + "/_cohort/api/submissions", body, {"Content-Type": "application/json"}, timeout)
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"raw": raw.decode("latin-1")}


def signed(payload: dict, token: str) -> dict:
    return protocol.signed(payload, token)
