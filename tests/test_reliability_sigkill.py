"""`lab check` killed (SIGKILL) while it writes progress: the database opens cleanly every time
and never holds half an attempt.

Two loops: 200 kills of a process that records attempts as fast as it can (the same
ProgressStore.record_attempt `lab check` calls, seven tasks with long messages, so most
kills land inside a write transaction), and kills of the real `lab check` aimed at its
progress write (a sitecustomize marks the moment record_attempt starts).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labkit import session
from labkit.progress import ProgressStore
from tests.conftest import REPO
from tests.faults import record_figure
from tests.labtools import start

WRITER = textwrap.dedent("""
    import sys, types
    from pathlib import Path
    from labkit.progress import ProgressStore

    store = ProgressStore(Path(sys.argv[1]))
    ids = [f"task-{n}" for n in range(7)]
    print("ready", flush=True)
    i = 0
    while True:
        tasks = [types.SimpleNamespace(id=t, status=("pass", "fail", "error")[(i + n) % 3], message=f"{t} " * 400)
                 for n, t in enumerate(ids)]
        passed = sum(t.status == "pass" for t in tasks)
        report = types.SimpleNamespace(lab="kill-lab", passed=passed, total=7, score=float(passed), max_score=7.0,
                                       wall_seconds=0.1, backend="ministack", tasks=tasks)
        sys.stdout.write(f"begin {i}\\n"); sys.stdout.flush()
        store.record_attempt(report, ids)
        sys.stdout.write(f"done {i}\\n"); sys.stdout.flush()
        i += 1
""")


def consistent(path: Path) -> tuple[ProgressStore, int]:
    """Open the store as the next `lab` command would; (store, attempts) if it is sound."""
    store = ProgressStore(path)  # opens (and recovers the WAL) or raises
    assert store.integrity_problems() == []
    with store._connect() as db:
        attempts = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        orphans = db.execute("SELECT COUNT(*) FROM task_results WHERE attempt_id NOT IN (SELECT id FROM attempts)"
                             ).fetchone()[0]
        unearned = db.execute(
            "SELECT COUNT(*) FROM first_passes f WHERE NOT EXISTS (SELECT 1 FROM task_results t JOIN attempts a "
            "ON a.id = t.attempt_id WHERE a.lab = f.lab AND t.task = f.task AND t.status = 'pass')").fetchone()[0]
        summaries = db.execute(
            "SELECT COUNT(*) FROM attempts a WHERE a.passed != (SELECT COUNT(*) FROM task_results t "
            "WHERE t.attempt_id = a.id AND t.status = 'pass')").fetchone()[0]
    assert (orphans, unearned, summaries) == (0, 0, 0)
    return store, attempts


@pytest.mark.slow
def test_two_hundred_sigkills_while_writing_progress_never_leave_half_an_attempt(tmp_path):
    path = tmp_path / "progress.db"
    rng = random.Random(20251103)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done_total, mid_write, before_ready = 0, 0, 0
    started = time.monotonic()
    for kill in range(200):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path)
        if rng.random() < 0.1:  # sometimes during start-up: imports, schema creation, WAL setup
            time.sleep(rng.uniform(0, 0.08))
        else:
            assert writer.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0, 0.03))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        lines = writer.stdout.read().split()
        writer.stdout.close()
        words = [w for w in lines if w in ("begin", "done", "ready")]
        if "ready" not in words and "begin" not in words:
            before_ready += 1
        dones = words.count("done")
        mid_write += bool(words) and words[-1] == "begin"
        _, attempts = consistent(path)
        # Every reported write is there; a write killed after COMMIT but before "done" may be too.
        assert done_total + dones <= attempts <= done_total + dones + 1, (kill, attempts, done_total, dones)
        done_total = attempts
    record_figure("sigkill_progress_loop", {"kills": 200, "mid_transaction": mid_write, "during_startup": before_ready,
                                            "attempts_kept": done_total, "seconds": round(time.monotonic() - started, 1),
                                            "corrupt_or_partial": 0})
    assert mid_write >= 100  # most kills really did land inside a write


SITE = textwrap.dedent("""
    import os, sys
    if os.environ.get("LAB_MARK_RECORDING"):
        import labkit.progress as progress

        original = progress.ProgressStore.record_attempt

        def marked(self, *args, **kwargs):
            sys.stderr.write("RECORDING\\n")
            sys.stderr.flush()
            return original(self, *args, **kwargs)

        progress.ProgressStore.record_attempt = marked
""")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_the_real_lab_check_killed_during_its_progress_write(lab_home, tmp_path):
    start("sns-fanout", lab_home)
    session.solve_lab("sns-fanout")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "LAB_MARK_RECORDING": "1",
           "NO_COLOR": "1"}
    path = lab_home.home / "progress.db"
    rng = random.Random(7)
    recorded = killed_before_commit = 0
    for _ in range(20):
        _, before = consistent(path)
        check = subprocess.Popen([sys.executable, str(REPO / "lab.py"), "check", "--task", "create-topic", "--json"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        line = check.stderr.readline()
        assert line.strip() == "RECORDING", line
        time.sleep(rng.uniform(0, 0.004))
        check.send_signal(signal.SIGKILL)
        check.wait(10)
        check.stderr.close()
        _, after = consistent(path)
        assert after in (before, before + 1)
        recorded += after - before
        killed_before_commit += after == before
    assert ProgressStore(path).lab_progress("sns-fanout") is not None
    record_figure("sigkill_real_check", {"kills": 20, "attempt_kept": recorded, "attempt_absent": killed_before_commit})
