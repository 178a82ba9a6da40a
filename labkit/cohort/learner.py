"""The learner's side of a cohort: `lab join`, the after-check submission, `lab handin`.

State lives in LAB_HOME/cohort/ (directory 0700): ``membership.json`` (the
token: 0600) and ``outbox.db``, the queue of signed submissions waiting for the
collector. After every recorded `lab check`, :func:`after_check` signs the
result and queues it (a few milliseconds) and makes sure a detached sender
process (:mod:`.sender`) is running; the check never waits for the network
and never fails because of it. The sender retries with backoff; `lab status`
shows what is still pending and why.

A check's nonce is ``<install id>-<attempt id>``, so the same check sent live
and again in a hand-in file is stored once.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import EXIT_EMULATOR, BadInput, LabError
from ..home import lab_home
from . import protocol

SUBMIT_PATH = "/_cohort/api/submissions"
ME_PATH = "/_cohort/api/me"
HTTP_TIMEOUT = 5.0

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nonce TEXT NOT NULL UNIQUE,
    lab TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected'))
);
CREATE TABLE IF NOT EXISTS sender (key TEXT PRIMARY KEY, value TEXT);
"""


class CollectorError(LabError):
    """The facilitator's collector cannot be reached."""

    exit_code = EXIT_EMULATOR


def folder() -> Path:
    path = lab_home() / "cohort"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def membership_path() -> Path:
    return lab_home() / "cohort" / "membership.json"


@dataclass
class Membership:
    token: str
    learner: str  # account id
    url: str | None  # the collector (and, in shared mode, the AWS endpoint); None: hand-in only
    cohort_id: str | None
    cohort_name: str | None
    name: str | None
    shared: bool
    install_id: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def membership() -> Membership | None:
    try:
        data = json.loads(membership_path().read_text())
        return Membership(**{key: data.get(key) for key in Membership.__dataclass_fields__})
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _save_membership(member: Membership) -> None:
    path = membership_path()
    folder()
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(member.to_dict(), handle, indent=2)
    os.replace(path.with_suffix(".tmp"), path)


# -- talking to the collector --------------------------------------------------------------------------
def _request(url: str, path: str, token: str, data: bytes | None = None) -> tuple[int, dict]:
    method = "POST" if data is not None else "GET"
    headers = {"Content-Type": "application/json", "User-Agent": "lab-cohort/1"}
    if data is None:
        headers.update(protocol.request_headers(token, method, path))
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - the facilitator's URL
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {"error": error.reason}


def join(url: str | None, token: str, local: bool = False) -> tuple[Membership, dict | None, str | None]:
    """Verify the token with the collector (when there is one) and remember the cohort.

    Returns (membership, what the collector said, a sentence about the emulator)."""
    token = token.strip()
    account = protocol.account_of(token)
    if account is None:
        raise BadInput("That is not a learner token: it looks like 482910375512.Xy3... (12 digits, a dot, a secret).",
                       fix="copy it from your instruction sheet")
    previous = membership()
    install_id = previous.install_id if previous else secrets.token_hex(6)
    info, note = None, None
    if url:
        url = url.rstrip("/")
        from ..aws import ensure_allowed

        ensure_allowed(url, allow_remote=True)
        try:
            status, info = _request(url, ME_PATH, token)
        except (urllib.error.URLError, OSError) as exc:
            raise CollectorError(f"Nothing answers at {url} ({getattr(exc, 'reason', exc)}).",
                                 fix="check the address on your instruction sheet, or join offline: `lab join --token TOKEN`") from None
        if status in (401, 403):
            raise BadInput(f"The workshop at {url} does not accept this token ({info.get('error', status)}).",
                           fix="copy the token from your own instruction sheet")
        if status != 200:
            raise CollectorError(f"The workshop at {url} answered {status}: {info.get('error', '')}")
    shared = bool(info and info.get("shared_emulator") and not local)
    dropped = 0
    if previous is not None and (previous.token != token or previous.url != url):
        _, dropped = leave()  # another cohort (or address): its queue must not go to this one
    member = Membership(token, account, url, info.get("cohort_id") if info else None,
                        info.get("cohort") if info else None, (info or {}).get("learner", {}).get("name"),
                        shared, install_id)
    if shared:
        note = _use_shared_emulator(url, account)
    _save_membership(member)
    queued = queue_history(member)
    if member.url:
        ensure_sender()
    notes = [note] if note else []
    if dropped:
        notes.append(f"{dropped} unsent result(s) for your previous cohort were dropped.")
    if queued:
        notes.append(f"{queued} earlier check(s) queued for the facilitator.")
    return member, info, " ".join(notes) or None


def _use_shared_emulator(url: str, account: str) -> str:
    from .. import emulator

    state = emulator.current_state()
    if state is not None and emulator.is_alive(state) and not (state.backend == "external" and state.url == url):
        raise BadInput(f"Your own {state.backend} emulator is running at {state.url}.",
                       fix="stop it with `lab stop` to use the workshop's shared emulator, or join with --local "
                           "to keep working on yours and only send results")
    state, _ = emulator.ensure_running(endpoint=url, access_key=account)
    return f"`lab` now uses the workshop's emulator at {url} as account {account}."


def leave() -> tuple[Membership | None, int]:
    member = membership()
    if member is None:
        return None, 0
    pending = outbox_counts()[0]
    if member.shared and member.url:
        from .. import emulator

        state = emulator.current_state()
        if state is not None and state.backend == "external" and state.url == member.url:
            emulator.stop()
    stop_sender()
    membership_path().unlink(missing_ok=True)
    (folder() / "outbox.db").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (folder() / f"outbox.db{suffix}").unlink(missing_ok=True)
    return member, pending


# -- building submissions -----------------------------------------------------------------------------------
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _progress_doc(store, lab_id: str) -> dict | None:
    progress = store.lab_progress(lab_id)
    if progress is None:
        return None
    return {"started_at": progress.started_at, "hints": dict(progress.hints_used), "attempts": progress.attempts,
            "completed_at": progress.completed_at}


def _files(lab, store) -> dict[str, str]:
    from ..workspace import workspace_for

    names = protocol.learner_files(lab)
    if not names:
        return {}
    progress = store.lab_progress(lab.id)
    workspace = Path(progress.workspace) if progress and progress.workspace else workspace_for(lab.id)
    files, total = {}, 0
    for name in sorted(names):
        path = workspace / name
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if len(data) > protocol.MAX_FILE_BYTES or total + len(data) > protocol.MAX_FILES_BYTES:
            continue
        try:
            files[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        total += len(data)
    return files


def _payload(member: Membership, kind: str, lab: str, at: str, nonce: str, **extra) -> dict:
    return {"v": 1, "kind": kind, "cohort": member.cohort_id, "learner": member.learner, "lab": lab, "at": at,
            "nonce": nonce, **extra}


def _attempts(store, lab_id: str, after_id: int = 0) -> list[tuple[int, str, list[tuple[str, str, str]]]]:
    """(attempt id, at, [(task, status, message)]) from the learner's progress database, oldest first."""
    with sqlite3.connect(store.path, timeout=30) as db:
        rows = db.execute("SELECT id, at FROM attempts WHERE lab = ? AND id > ? ORDER BY id", (lab_id, after_id)).fetchall()
        results = []
        for attempt_id, at in rows:
            tasks = db.execute("SELECT task, status, message FROM task_results WHERE attempt_id = ?",
                               (attempt_id,)).fetchall()
            results.append((attempt_id, at, tasks))
    return results


def _check_payload(member: Membership, lab, attempt_id: int, at: str, report: dict, store, files: dict) -> dict:
    return _payload(member, "check", lab.id, at, f"{member.install_id}-{attempt_id}",
                    report=report, progress=_progress_doc(store, lab.id), files=files)


def _history_submissions(member: Membership, store) -> list[dict]:
    """Every recorded check of every started lab (plus its current progress), signed."""
    from .. import catalog

    submissions = []
    for progress in store.all_progress():
        try:
            lab = catalog.get(progress.lab)
        except LabError:
            continue
        files = _files(lab, store)
        titles = {task.id: task.title for task in lab.spec.tasks}
        for attempt_id, at, tasks in _attempts(store, lab.id):
            report = {"lab": lab.id, "tasks": [{"id": task, "title": titles.get(task, task), "status": status,
                                                "message": message} for task, status, message in tasks if task in titles]}
            report["passed"] = sum(task["status"] == "pass" for task in report["tasks"])
            report["total"] = len(report["tasks"])
            submissions.append(protocol.signed(_check_payload(member, lab, attempt_id, at, report, store, {}),
                                               member.token))
        latest = _payload(member, "progress", lab.id, _now_iso(), f"{member.install_id}-p-{secrets.token_hex(6)}",
                          progress=_progress_doc(store, lab.id), files=files)
        submissions.append(protocol.signed(latest, member.token))
    return submissions


# -- the outbox ----------------------------------------------------------------------------------------------------
@contextmanager
def _outbox():
    path = folder() / "outbox.db"
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.executescript(OUTBOX_SCHEMA)
        yield db
    finally:
        db.close()


def enqueue(submissions: list[dict]) -> int:
    with _outbox() as db:
        db.execute("BEGIN IMMEDIATE")
        count = 0
        for submission in submissions:
            count += db.execute("INSERT OR IGNORE INTO outbox (nonce, lab, body, created_at) VALUES (?, ?, ?, ?)",
                                (submission["payload"]["nonce"], submission["payload"]["lab"],
                                 json.dumps(submission, ensure_ascii=False), time.time())).rowcount
        db.execute("COMMIT")
    return count


def queue_history(member: Membership) -> int:
    if not member.url:
        return 0
    from ..progress import ProgressStore

    return enqueue(_history_submissions(member, ProgressStore()))


def outbox_counts() -> tuple[int, int, str | None, float | None]:
    """(pending, rejected, last error, last delivery time)."""
    if not (folder() / "outbox.db").exists():
        return 0, 0, None, None
    with _outbox() as db:
        pending = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        rejected = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'rejected'").fetchone()[0]
        error = db.execute("SELECT last_error FROM outbox WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
        delivered = db.execute("SELECT value FROM sender WHERE key = 'last_delivery'").fetchone()
    return pending, rejected, error[0] if error else None, float(delivered[0]) if delivered else None


# -- the observer `lab check` calls ------------------------------------------------------------------------------------
def after_check(report, store) -> None:
    """session.AFTER_CHECK observer: sign and queue this check for the collector. Never raises."""
    try:
        member = membership()
        if member is None or not member.url:
            return
        from .. import catalog

        lab = catalog.get(report.lab)
        with sqlite3.connect(store.path, timeout=30) as db:  # the attempt record_attempt just wrote
            latest = db.execute("SELECT id, at FROM attempts WHERE lab = ? ORDER BY id DESC LIMIT 1",
                                (lab.id,)).fetchone()
        if latest is None:
            return
        attempt_id, at = latest
        payload = _check_payload(member, lab, attempt_id, at, report.to_json(), store, _files(lab, store))
        enqueue([protocol.signed(payload, member.token)])
        ensure_sender()
    except Exception as exc:  # noqa: BLE001 - a learner's check must never fail because of the cohort
        _log(f"after_check: {type(exc).__name__}: {exc}")


def _log(line: str) -> None:
    try:
        from ..home import logs_dir

        with open(logs_dir() / "cohort-sender.log", "a", encoding="utf-8") as handle:
            handle.write(f"{_now_iso()} {line}\n")
    except OSError:
        pass


def _sender_process():
    """The running sender (checked by PID and start time), or None."""
    import psutil

    if not (folder() / "outbox.db").exists():
        return None
    with _outbox() as db:
        row = dict(db.execute("SELECT key, value FROM sender WHERE key IN ('pid', 'created')").fetchall())
    if not row.get("pid"):
        return None
    try:
        process = psutil.Process(int(row["pid"]))
        if abs(process.create_time() - float(row.get("created", 0))) < 1.0 and process.status() != psutil.STATUS_ZOMBIE:
            return process
    except (psutil.Error, ValueError):
        pass
    return None


def stop_sender() -> None:
    import psutil

    process = _sender_process()
    if process is not None:
        try:
            process.terminate()
            process.wait(timeout=5)
        except psutil.Error:
            pass


def ensure_sender() -> bool:
    """Start the detached sender unless one is running; True if one was started."""
    with _outbox() as db:
        pending = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
    if not pending or _sender_process() is not None:
        return False
    from ..home import logs_dir

    log = open(logs_dir() / "cohort-sender.log", "ab")  # noqa: SIM115 - handed to the child
    kwargs: dict = {"start_new_session": True} if os.name != "nt" else {
        "creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
    try:
        subprocess.Popen([sys.executable, "-m", "labkit.cohort.sender"], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=log, close_fds=True, env={**os.environ, "LAB_HOME": str(lab_home())}, **kwargs)
    finally:
        log.close()
    return True


# -- hand-in ----------------------------------------------------------------------------------------------------------------
def handin(out: Path | None = None) -> tuple[Path, dict]:
    """Write every check and the current progress, signed, to one file for `lab cohort import`."""
    from ..progress import ProgressStore

    member = membership()
    if member is None:
        raise BadInput("You have not joined a cohort, so a hand-in cannot be signed.",
                       fix="run `lab join --token TOKEN` with the token from your instruction sheet")
    store = ProgressStore()
    submissions = _history_submissions(member, store)
    if not submissions:
        raise BadInput("There is nothing to hand in yet: no lab has been started.", fix="`lab start LAB` first")
    document = {"format": "lab-handin", "version": 1, "learner": member.learner, "name": member.name,
                "cohort": member.cohort_id, "created_at": _now_iso(), "submissions": submissions}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(out) if out else Path.cwd() / f"handin-{member.learner}-{stamp}.json"
    if out.is_dir():
        out = out / f"handin-{member.learner}-{stamp}.json"
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    labs = sorted({s["payload"]["lab"] for s in submissions})
    checks = sum(1 for s in submissions if s["payload"]["kind"] == "check")
    files = sorted({name for s in submissions for name in s["payload"].get("files", {})})
    return out, {"labs": labs, "checks": checks, "files": files}


def status_summary() -> dict | None:
    """What `lab status` adds: the cohort, and what is waiting to be sent."""
    member = membership()
    if member is None:
        return None
    pending, rejected, error, delivered = outbox_counts()
    if pending and member.url:
        try:
            ensure_sender()
        except Exception as exc:  # noqa: BLE001 - status must always print
            _log(f"status: {exc}")
    return {"cohort": member.cohort_name, "learner": member.learner, "name": member.name, "url": member.url,
            "shared_emulator": member.shared, "pending": pending, "rejected": rejected, "last_error": error,
            "last_delivery": protocol.iso(delivered)}
