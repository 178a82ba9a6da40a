"""SQLite connections shared by the progress store and the cohort store.

WAL mode and a long busy timeout let several `lab` processes use one database
at once; BEGIN IMMEDIATE makes each transaction take the write lock up front,
so it is applied whole or not at all.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def connect(path: Path, *pragmas: str):
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        yield db
    finally:
        db.close()


@contextmanager
def transaction(path: Path, *pragmas: str):
    with connect(path, *pragmas) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
