"""A cohort's state: one SQLite file under LAB_HOME/cohorts/<name>/ (directory 0700, files 0600).

What is kept, and why:
- ``learners``: roster, random 12-digit account id, and the learner token in
  clear. The token is the HMAC key that proves a submission, so the collector
  must hold it; file permissions protect it (never exported, never served).
- ``meta``: the facilitator token as a SHA-256 hash only (it is printed once by
  `init`; `lab cohort token --rotate` makes a new one), the session-cookie
  secret, the cohort's labs and settings, and a version counter the dashboard
  polls.
- ``submissions``: every accepted submission as received (the evidence), keyed
  by nonce, so a replay is a no-op.
- Derived tables, updated in the same transaction as each submission:
  ``task_state`` (per learner and task: first pass, latest verdict, counts),
  ``lab_state``, ``hints``, ``failures`` (normalised failure messages per
  learner, for item analysis) and ``files`` (the learner code last handed in).
- ``activity``: first and last request per account, from the gateway.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .. import sqlite
from ..errors import BadInput
from ..home import lab_home
from . import protocol
from .roster import RosterEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS learners (
    account_id TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    email TEXT,
    token TEXT NOT NULL,
    added_at REAL NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    nonce TEXT NOT NULL,
    learner TEXT NOT NULL REFERENCES learners(account_id),
    lab TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    at REAL NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (learner, nonce)
);
CREATE TABLE IF NOT EXISTS task_state (
    learner TEXT NOT NULL, lab TEXT NOT NULL, task TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('central', 'learner')),  -- who ran the check
    first_pass_at REAL,
    last_status TEXT, last_message TEXT, last_at REAL, last_source TEXT,
    checks INTEGER NOT NULL DEFAULT 0,
    fails INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (learner, lab, task, origin)
);
CREATE TABLE IF NOT EXISTS lab_state (
    learner TEXT NOT NULL, lab TEXT NOT NULL,
    reported_start REAL,   -- the learner's `lab start`, as their `lab` reported it
    first_check_at REAL,
    last_check_at REAL,
    PRIMARY KEY (learner, lab)
);
CREATE TABLE IF NOT EXISTS hints (
    learner TEXT NOT NULL, lab TEXT NOT NULL, task TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (learner, lab, task)
);
CREATE TABLE IF NOT EXISTS failures (
    lab TEXT NOT NULL, task TEXT NOT NULL, message TEXT NOT NULL, learner TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (lab, task, message, learner)
);
CREATE TABLE IF NOT EXISTS files (
    learner TEXT NOT NULL, lab TEXT NOT NULL, name TEXT NOT NULL,
    content TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (learner, lab, name)
);
CREATE TABLE IF NOT EXISTS activity (
    account_id TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    requests INTEGER NOT NULL,
    last_call TEXT
);
CREATE INDEX IF NOT EXISTS submissions_by_time ON submissions (received_at);
"""

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_ACCOUNT_IN_TEXT = re.compile(r"(?<!\d)\d{12}(?!\d)")
_RUN_ID = re.compile(r"chk-[0-9a-f]{10}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_URL_HOST = re.compile(r"https?://[^/\s]+")


def cohorts_dir() -> Path:
    return lab_home() / "cohorts"


def normalise_failure(message: str) -> str:
    """Group failure messages that differ only by account, probe run, ids or endpoint."""
    text = _ACCOUNT_IN_TEXT.sub("<account>", message)
    text = _RUN_ID.sub("<probe>", text)
    text = _UUID.sub("<id>", text)
    text = _URL_HOST.sub("<endpoint>", text)
    return text[:500]


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (instruction sheets carry tokens)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class Learner:
    account_id: str
    id: str
    name: str
    email: str | None
    token: str
    position: int


class CohortStore:
    """One cohort's SQLite database. Each call opens its own connection (thread-safe, WAL)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / "cohort.db"
        if not self.path.exists():
            raise BadInput(f"There is no cohort in {folder}.", fix="create one with `lab cohort init --roster FILE`")

    @property
    def name(self) -> str:
        return self.folder.name

    # -- creation -----------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, entries: list[RosterEntry], labs: list[str], url: str, engine: str,
               root: Path | None = None) -> tuple["CohortStore", str]:
        """A new cohort; returns it and the facilitator token (shown once, stored hashed)."""
        if not NAME.match(name):
            raise BadInput(f"'{name}' is not a usable cohort name: lower-case letters, digits and dashes.")
        folder = (root or cohorts_dir()) / name
        if (folder / "cohort.db").exists():
            raise BadInput(f"Cohort {name} already exists ({folder}).",
                           fix=f"add learners with `lab cohort add --roster FILE --cohort {name}`, or pick another --name")
        _private_dir(folder.parent)
        _private_dir(folder)
        fd = os.open(folder / "cohort.db", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        store = cls(folder)
        token = protocol.new_facilitator_token()
        store._init_schema()
        with store._transaction() as db:
            for key, value in {
                "cohort_id": uuid.uuid4().hex,
                "name": name,
                "created_at": repr(time.time()),
                "facilitator_token_sha256": protocol.token_hash(token),
                "session_secret": secrets.token_hex(32),
                "labs": json.dumps(labs),
                "url": url,
                "engine": engine,
                "version": "0",
            }.items():
                db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
            store._add_learners(db, entries)
        return store, token

    def _init_schema(self) -> None:
        with self._connect() as db:
            db.executescript(SCHEMA)

    def add_learners(self, entries: list[RosterEntry]) -> list[Learner]:
        """Add the roster entries whose id is new; returns the learners added."""
        with self._transaction() as db:
            added = self._add_learners(db, entries)
            self._bump(db)
        return added

    def _add_learners(self, db, entries: list[RosterEntry]) -> list[Learner]:
        known = {row[0].lower() for row in db.execute("SELECT id FROM learners")}
        taken = {row[0] for row in db.execute("SELECT account_id FROM learners")}
        position = db.execute("SELECT COALESCE(MAX(position), 0) FROM learners").fetchone()[0]
        added = []
        for entry in entries:
            if entry.id.lower() in known:
                continue
            account = protocol.new_account_id(taken)
            taken.add(account)
            position += 1
            learner = Learner(account, entry.id, entry.name, entry.email, protocol.new_learner_token(account), position)
            db.execute("INSERT INTO learners VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (learner.account_id, learner.id, learner.name, learner.email, learner.token, time.time(),
                        learner.position))
            added.append(learner)
        return added

    # -- connections ------------------------------------------------------------------------
    def _connect(self):
        return sqlite.connect(self.path, "synchronous=NORMAL")

    def _transaction(self):
        return sqlite.transaction(self.path, "synchronous=NORMAL")

    @staticmethod
    def _bump(db) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")

    # -- meta ----------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        with self._connect() as db:
            return dict(db.execute("SELECT key, value FROM meta"))

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            self._bump(db)

    @property
    def cohort_id(self) -> str:
        return self.meta()["cohort_id"]

    def labs(self) -> list[str]:
        return json.loads(self.meta()["labs"])

    def version(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    def rotate_facilitator_token(self) -> str:
        token = protocol.new_facilitator_token()
        self.set_meta("facilitator_token_sha256", protocol.token_hash(token))
        return token

    # -- learners ---------------------------------------------------------------------------------
    def learners(self) -> list[Learner]:
        with self._connect() as db:
            rows = db.execute("SELECT account_id, id, name, email, token, position FROM learners ORDER BY position")
            return [Learner(*row) for row in rows]

    def learner(self, account_id: str) -> Learner | None:
        with self._connect() as db:
            row = db.execute("SELECT account_id, id, name, email, token, position FROM learners WHERE account_id = ?",
                             (account_id,)).fetchone()
        return Learner(*row) if row else None

    def find_learner(self, key: str) -> Learner | None:
        """By account id or roster id (case-insensitive)."""
        with self._connect() as db:
            row = db.execute("SELECT account_id, id, name, email, token, position FROM learners "
                             "WHERE account_id = ? OR id = ? COLLATE NOCASE", (key, key)).fetchone()
        return Learner(*row) if row else None

    def accounts(self) -> set[str]:
        with self._connect() as db:
            return {row[0] for row in db.execute("SELECT account_id FROM learners")}

    # -- ingest -------------------------------------------------------------------------------------
    def ingest(self, submission: protocol.Submission, source: str, received_at: float | None = None) -> bool:
        """Store a verified submission and update the derived state. False when its nonce was already stored."""
        received_at = received_at or time.time()
        body = json.dumps({"payload": submission.payload, "signature": submission.signature},
                          ensure_ascii=False, separators=(",", ":"))
        with self._transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (submission.nonce, submission.learner, submission.lab, submission.kind, source, submission.at,
                 received_at, body),
            ).rowcount
            if not inserted:
                return False
            self._apply(db, submission.learner, submission.lab, submission.at, source, submission.tasks,
                        submission.hints, submission.started_at, submission.files)
            self._bump(db)
        return True

    def ingest_central(self, results: list[tuple[str, str, float, list[tuple[str, str, str]], dict]]) -> int:
        """Store central grading results: (account, lab, at, [(task, status, message)], report json) each.

        One transaction for the whole batch: the dashboard sees a grading run appear at once."""
        with self._transaction() as db:
            for account, lab, at, tasks, report in results:
                nonce = "central-" + uuid.uuid4().hex
                body = json.dumps({"report": report}, separators=(",", ":"))
                db.execute("INSERT INTO submissions VALUES (?, ?, ?, 'check', 'central', ?, ?, ?)",
                           (nonce, account, lab, at, at, body))
                self._apply(db, account, lab, at, "central", tasks, {}, None, {})
            self._bump(db)
        return len(results)

    def _apply(self, db, learner: str, lab: str, at: float, source: str, tasks, hints: dict[str, int],
               started_at: float | None, files: dict[str, str]) -> None:
        checked = at if tasks else None
        db.execute(
            "INSERT INTO lab_state VALUES (?, ?, ?, ?, ?) ON CONFLICT(learner, lab) DO UPDATE SET "
            "reported_start = COALESCE(MIN(lab_state.reported_start, excluded.reported_start), "
            "  lab_state.reported_start, excluded.reported_start), "
            "first_check_at = COALESCE(MIN(lab_state.first_check_at, excluded.first_check_at), "
            "  lab_state.first_check_at, excluded.first_check_at), "
            "last_check_at = COALESCE(MAX(lab_state.last_check_at, excluded.last_check_at), "
            "  lab_state.last_check_at, excluded.last_check_at)",
            (learner, lab, started_at, checked, checked),
        )
        origin = "central" if source == "central" else "learner"
        for task, status, message in tasks:
            db.execute(
                "INSERT INTO task_state (learner, lab, task, origin, first_pass_at, last_status, last_message, last_at, "
                "last_source, checks, fails, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT(learner, lab, task, origin) DO UPDATE SET "
                "first_pass_at = COALESCE(MIN(task_state.first_pass_at, excluded.first_pass_at), "
                "  task_state.first_pass_at, excluded.first_pass_at), "
                "last_status = CASE WHEN excluded.last_at >= task_state.last_at THEN excluded.last_status ELSE task_state.last_status END, "
                "last_message = CASE WHEN excluded.last_at >= task_state.last_at THEN excluded.last_message ELSE task_state.last_message END, "
                "last_source = CASE WHEN excluded.last_at >= task_state.last_at THEN excluded.last_source ELSE task_state.last_source END, "
                "last_at = MAX(task_state.last_at, excluded.last_at), "
                "checks = task_state.checks + 1, fails = task_state.fails + excluded.fails, "
                "errors = task_state.errors + excluded.errors",
                (learner, lab, task, origin, at if status == "pass" else None, status, message, at, source,
                 int(status == "fail"), int(status == "error")),
            )
            if status == "fail":
                db.execute(
                    "INSERT INTO failures VALUES (?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET count = count + 1",
                    (lab, task, normalise_failure(message), learner),
                )
        for task, count in hints.items():
            db.execute("INSERT INTO hints VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = MAX(count, excluded.count)",
                       (learner, lab, task, count))
        for name, content in files.items():
            db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                       "content = CASE WHEN excluded.at >= files.at THEN excluded.content ELSE files.content END, "
                       "at = MAX(files.at, excluded.at)", (learner, lab, name, content, at))

    # -- gateway activity -------------------------------------------------------------------------------
    def record_activity(self, seen: dict[str, tuple[float, float, int, str]]) -> None:
        """seen: account -> (first, last, requests since last flush, last call)."""
        if not seen:
            return
        with self._transaction() as db:
            for account, (first, last, count, call) in seen.items():
                db.execute(
                    "INSERT INTO activity VALUES (?, ?, ?, ?, ?) ON CONFLICT(account_id) DO UPDATE SET "
                    "first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen), "
                    "requests = requests + excluded.requests, last_call = excluded.last_call",
                    (account, first, last, count, call),
                )
            self._bump(db)

    # -- reads for the dashboard, grades and the grader -----------------------------------------------------
    def snapshot(self) -> dict:
        """Everything the analysis needs, read in one go (one consistent read transaction)."""
        with self._connect() as db:
            db.execute("BEGIN")
            try:
                data = {
                    "meta": dict(db.execute("SELECT key, value FROM meta")),
                    "learners": [Learner(*row) for row in db.execute(
                        "SELECT account_id, id, name, email, token, position FROM learners ORDER BY position")],
                    "tasks": db.execute("SELECT learner, lab, task, origin, first_pass_at, last_status, "
                                        "last_message, last_at, last_source, checks, fails, errors FROM task_state").fetchall(),
                    "labs": db.execute("SELECT learner, lab, reported_start, first_check_at, last_check_at FROM lab_state").fetchall(),
                    "hints": db.execute("SELECT learner, lab, task, count FROM hints").fetchall(),
                    "failures": db.execute(
                        "SELECT lab, task, message, COUNT(*), SUM(count) FROM failures GROUP BY lab, task, message"
                    ).fetchall(),
                    "activity": db.execute("SELECT account_id, first_seen, last_seen, requests, last_call FROM activity").fetchall(),
                    "files": db.execute("SELECT learner, lab, COUNT(*), MAX(at) FROM files GROUP BY learner, lab").fetchall(),
                }
            finally:
                db.execute("COMMIT")
        return data

    def learner_files(self, account_id: str, lab: str) -> dict[str, str]:
        with self._connect() as db:
            return dict(db.execute("SELECT name, content FROM files WHERE learner = ? AND lab = ?", (account_id, lab)))

    def submission_count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]


def cohort_names(root: Path | None = None) -> list[str]:
    root = root or cohorts_dir()
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir() if (path / "cohort.db").is_file())


def current_name() -> str | None:
    marker = cohorts_dir() / "current"
    try:
        name = marker.read_text().strip()
    except FileNotFoundError:
        name = ""
    names = cohort_names()
    if name in names:
        return name
    return names[0] if len(names) == 1 else None


def set_current(name: str) -> None:
    _private_dir(cohorts_dir())
    (cohorts_dir() / "current").write_text(name + "\n")


def open_cohort(name: str | None = None) -> CohortStore:
    """The named cohort, or the current one (the one `init` made last)."""
    name = name or os.environ.get("LAB_COHORT") or current_name()
    if name is None:
        names = cohort_names()
        if not names:
            raise BadInput("There is no cohort yet.", fix="create one with `lab cohort init --roster learners.csv`")
        raise BadInput(f"Several cohorts exist ({', '.join(names)}); say which.", fix="pass --cohort NAME")
    folder = cohorts_dir() / name
    if not (folder / "cohort.db").is_file():
        known = ", ".join(cohort_names()) or "none"
        raise BadInput(f"There is no cohort called '{name}' (cohorts: {known}).")
    return CohortStore(folder)
