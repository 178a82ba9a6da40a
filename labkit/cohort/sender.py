"""`python -m labkit.cohort.sender`: deliver queued submissions to the collector, then exit.

Started detached by :func:`labkit.cohort.learner.ensure_sender`; one at a time
(it records its PID in the outbox). Each pending submission is posted with a
short timeout. Accepted (or already stored: the collector is idempotent by
nonce) -> removed from the queue. Refused for good (400/403/413) -> kept as
``rejected`` with the collector's reason, which `lab status` shows. Anything
else (collector away, 5xx) -> retried with exponential backoff up to a minute.
The sender gives up after GIVE_UP seconds without any delivery; the next
`lab check` or `lab status` starts it again.
"""

from __future__ import annotations

import os
import time
import urllib.error

import psutil

from . import learner

GIVE_UP = 15 * 60
MAX_BACKOFF = 60.0
PERMANENT = (400, 403, 404, 413, 422)


def _claim() -> bool:
    me = psutil.Process(os.getpid())
    with learner._outbox() as db:
        db.execute("BEGIN IMMEDIATE")
        row = dict(db.execute("SELECT key, value FROM sender WHERE key IN ('pid', 'created')").fetchall())
        if row.get("pid") and int(row["pid"]) != me.pid:
            try:
                other = psutil.Process(int(row["pid"]))
                if abs(other.create_time() - float(row.get("created", 0))) < 1.0 and other.status() != psutil.STATUS_ZOMBIE:
                    db.execute("ROLLBACK")
                    return False
            except (psutil.Error, ValueError):
                pass
        db.execute("INSERT OR REPLACE INTO sender VALUES ('pid', ?)", (str(me.pid),))
        db.execute("INSERT OR REPLACE INTO sender VALUES ('created', ?)", (repr(me.create_time()),))
        db.execute("COMMIT")
    return True


def _release() -> None:
    with learner._outbox() as db:
        db.execute("DELETE FROM sender WHERE key IN ('pid', 'created') AND "
                   "(SELECT value FROM sender WHERE key = 'pid') = ?", (str(os.getpid()),))


def deliver_once(member) -> tuple[int, float | None]:
    """Try every due submission once; returns (delivered, seconds until the next is due or None if none left)."""
    delivered = 0
    with learner._outbox() as db:
        due = db.execute("SELECT id, body, tries FROM outbox WHERE state = 'pending' AND next_try <= ? ORDER BY id",
                         (time.time(),)).fetchall()
    for row_id, body, tries in due:
        try:
            status, answer = learner._request(member.url, learner.SUBMIT_PATH, member.token, body.encode("utf-8"))
            error = None if status in (200, 201) else f"{status}: {answer.get('error', '')}"
        except (urllib.error.URLError, OSError) as exc:
            status, error = None, f"collector unreachable ({getattr(exc, 'reason', exc)})"
        with learner._outbox() as db:
            if error is None:
                db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                db.execute("INSERT OR REPLACE INTO sender VALUES ('last_delivery', ?)", (repr(time.time()),))
                delivered += 1
            elif status in PERMANENT:
                db.execute("UPDATE outbox SET state = 'rejected', last_error = ?, tries = tries + 1 WHERE id = ?",
                           (f"rejected by the collector: {error}", row_id))
            else:
                wait = min(MAX_BACKOFF, 2.0 ** tries)
                db.execute("UPDATE outbox SET tries = tries + 1, next_try = ?, last_error = ? WHERE id = ?",
                           (time.time() + wait, error, row_id))
                break  # the collector is away: do not hammer it with the rest of the queue
    with learner._outbox() as db:
        row = db.execute("SELECT MIN(next_try) FROM outbox WHERE state = 'pending'").fetchone()
    return delivered, (max(0.0, row[0] - time.time()) if row[0] is not None else None)


def main() -> None:
    member = learner.membership()
    if member is None or not member.url or not _claim():
        return
    try:
        last_progress = time.monotonic()
        while True:
            delivered, wait = deliver_once(member)
            if delivered:
                last_progress = time.monotonic()
            if wait is None:
                # Release first, then look again: a check queued meanwhile either sees no sender
                # (and starts one) or is seen here.
                _release()
                if learner.outbox_counts()[0] == 0 or not _claim():
                    return
                continue
            if time.monotonic() - last_progress > GIVE_UP:
                return
            time.sleep(min(max(wait, 0.2), MAX_BACKOFF))
    finally:
        _release()


if __name__ == "__main__":
    main()
