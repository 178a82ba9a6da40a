"""The learner's progress in SQLite under LAB_HOME.

One attempt (its summary and every task verdict) is written in a single
transaction, so a killed `lab check` leaves either the whole attempt or none
of it. WAL mode plus a busy timeout lets several terminals check at once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import sqlite
from .home import lab_home

SCHEMA = """
CREATE TABLE IF NOT EXISTS labs (
    lab TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    backend TEXT,
    workspace TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lab TEXT NOT NULL,
    at TEXT NOT NULL,
    passed INTEGER NOT NULL,
    total INTEGER NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    backend TEXT
);
CREATE TABLE IF NOT EXISTS task_results (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'error')),
    message TEXT NOT NULL,
    PRIMARY KEY (attempt_id, task)
);
CREATE TABLE IF NOT EXISTS first_passes (
    lab TEXT NOT NULL,
    task TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (lab, task)
);
CREATE TABLE IF NOT EXISTS hints (
    lab TEXT NOT NULL,
    task TEXT NOT NULL,
    hint_index INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (lab, task, hint_index)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
CREATE INDEX IF NOT EXISTS attempts_by_lab ON attempts (lab, id);
"""


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class LabProgress:
    lab: str
    started_at: str
    completed_at: str | None
    backend: str | None
    workspace: str | None
    first_passes: dict[str, str]
    hints_used: dict[str, int]
    last_results: dict[str, tuple[str, str]]  # task -> (status, message) from the latest attempt
    attempts: int


class ProgressStore:
    def __init__(self, path: Path | None = None):
        self.path = path or lab_home() / "progress.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
        except sqlite3.OperationalError:
            raise  # e.g. locked for longer than the busy timeout: not damage
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
            from .errors import LabError

            raise LabError(f"{self.path} is not a progress database `lab` can read ({exc}).",
                           fix=f"move it aside (`mv '{self.path}' '{self.path}.damaged'`) and run the command "
                               "again: a new, empty progress database is created") from None

    def _connect(self):
        return sqlite.connect(self.path, "foreign_keys=ON")

    def _transaction(self):
        return sqlite.transaction(self.path, "foreign_keys=ON")

    # -- writes --------------------------------------------------------------
    def record_start(self, lab: str, backend: str, workspace: str, at: str | None = None) -> None:
        """First start sets started_at; later starts keep it (the worklog's Start Date)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO labs (lab, started_at, backend, workspace) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(lab) DO UPDATE SET backend = excluded.backend, workspace = excluded.workspace",
                (lab, at or now(), backend, workspace),
            )
            db.execute("INSERT OR REPLACE INTO settings VALUES ('current_lab', ?)", (lab,))

    def record_attempt(self, report, task_ids: list[str], at: str | None = None) -> int:
        """Store one `lab check`; returns the attempt id. All or nothing."""
        at = at or now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO labs (lab, started_at) VALUES (?, ?) ON CONFLICT(lab) DO NOTHING",
                (report.lab, at),
            )
            cursor = db.execute(
                "INSERT INTO attempts (lab, at, passed, total, score, max_score, wall_seconds, backend) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (report.lab, at, report.passed, report.total, report.score, report.max_score,
                 report.wall_seconds, report.backend),
            )
            attempt_id = cursor.lastrowid
            db.executemany(
                "INSERT INTO task_results VALUES (?, ?, ?, ?)",
                [(attempt_id, task.id, task.status, task.message) for task in report.tasks],
            )
            db.executemany(
                "INSERT INTO first_passes VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(report.lab, task.id, at) for task in report.tasks if task.status == "pass"],
            )
            passed = {row[0] for row in db.execute("SELECT task FROM first_passes WHERE lab = ?", (report.lab,))}
            if set(task_ids) <= passed:
                db.execute(
                    "UPDATE labs SET completed_at = COALESCE(completed_at, ?) WHERE lab = ?", (at, report.lab)
                )
        return attempt_id

    def record_hint(self, lab: str, task: str, hint_index: int, at: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO hints VALUES (?, ?, ?, ?)", (lab, task, hint_index, at or now()))

    def forget_lab(self, lab: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM task_results WHERE attempt_id IN (SELECT id FROM attempts WHERE lab = ?)", (lab,))
            for table in ("attempts", "first_passes", "hints", "labs"):
                db.execute(f"DELETE FROM {table} WHERE lab = ?", (lab,))  # noqa: S608 - fixed names
            db.execute("DELETE FROM settings WHERE key = 'current_lab' AND value = ?", (lab,))

    # -- reads ---------------------------------------------------------------
    def current_lab(self) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'current_lab'").fetchone()
        return row[0] if row else None

    def hints_revealed(self, lab: str, task: str) -> int:
        with self._connect() as db:
            row = db.execute("SELECT COUNT(*) FROM hints WHERE lab = ? AND task = ?", (lab, task)).fetchone()
        return row[0]

    def lab_progress(self, lab: str) -> LabProgress | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT lab, started_at, completed_at, backend, workspace FROM labs WHERE lab = ?", (lab,)
            ).fetchone()
            if row is None:
                return None
            first = dict(db.execute("SELECT task, at FROM first_passes WHERE lab = ?", (lab,)).fetchall())
            hints = dict(
                db.execute("SELECT task, COUNT(*) FROM hints WHERE lab = ? GROUP BY task", (lab,)).fetchall()
            )
            latest = db.execute("SELECT MAX(id), COUNT(*) FROM attempts WHERE lab = ?", (lab,)).fetchone()
            results = {}
            if latest[0] is not None:
                results = {
                    task: (status, message)
                    for task, status, message in db.execute(
                        "SELECT task, status, message FROM task_results WHERE attempt_id = ?", (latest[0],)
                    )
                }
        return LabProgress(*row, first_passes=first, hints_used=hints, last_results=results, attempts=latest[1])

    def all_progress(self) -> list[LabProgress]:
        with self._connect() as db:
            labs = [row[0] for row in db.execute("SELECT lab FROM labs ORDER BY started_at, lab")]
        return [self.lab_progress(lab) for lab in labs]

    def attempt_count(self, lab: str) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM attempts WHERE lab = ?", (lab,)).fetchone()[0]

    def integrity_problems(self) -> list[str]:
        """Empty when the database is sound and no attempt is missing task rows."""
        with self._connect() as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
            partial = db.execute(
                "SELECT a.id FROM attempts a LEFT JOIN task_results t ON t.attempt_id = a.id "
                "GROUP BY a.id HAVING COUNT(t.task) != a.total"
            ).fetchall()
        problems.extend(f"attempt {row[0]} has missing task rows" for row in partial)
        return problems
