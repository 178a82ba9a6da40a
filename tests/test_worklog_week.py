"""The weekly worklog page, from a recorded history across several days and labs (golden file)."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from labkit import catalog, worklog
from labkit.grading import LabReport, TaskResult
from labkit.progress import ProgressStore

FIXTURES = Path(__file__).parent / "fixtures" / "worklog" / "labs"
GOLDEN = Path(__file__).parent / "golden"
LABS = {folder.name: catalog.load_lab(folder) for folder in sorted(FIXTURES.iterdir())}


def attempt(store, lab_id: str, passed: set[str], at: str):
    lab = LABS[lab_id]
    report = LabReport(lab_id, lab.spec.title, "ministack", [
        TaskResult(t.id, t.title, "pass" if t.id in passed else "fail", "msg", t.points) for t in lab.spec.tasks])
    store.record_attempt(report, [t.id for t in lab.spec.tasks], at=at)


def recorded_history(tmp_path) -> ProgressStore:
    """Week of Mon 3 Nov 2025: queue-basics over Mon and Tue, table-basics on Tue,
    bucket-basics started Thu and left unfinished; a lab from the week before is ignored."""
    store = ProgressStore(tmp_path / "progress.db")
    store.record_start("queue-basics", "ministack", "/ws", at="2025-10-28T10:00:00+07:00")  # the week before
    attempt(store, "queue-basics", {"first"}, "2025-10-28T10:30:00+07:00")
    attempt(store, "queue-basics", {"first", "second"}, "2025-11-03T09:10:00+07:00")
    attempt(store, "queue-basics", {"first", "second", "third"}, "2025-11-04T08:05:00+07:00")
    store.record_start("table-basics", "ministack", "/ws", at="2025-11-04T13:00:00+07:00")
    attempt(store, "table-basics", {"first", "second", "third"}, "2025-11-04T15:00:00+07:00")
    store.record_start("bucket-basics", "ministack", "/ws", at="2025-11-06T09:00:00+07:00")
    store.record_hint("bucket-basics", "second", 0, at="2025-11-06T09:20:00+07:00")
    attempt(store, "bucket-basics", {"first"}, "2025-11-06T09:30:00+07:00")
    return store


def check_golden(name: str, text: str):
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 if that is intended"


def test_the_weekly_page_matches_the_golden_file(tmp_path):
    page = worklog.week_page(recorded_history(tmp_path).all_progress(), LABS, date(2025, 11, 5))
    check_golden("week-2025-11-03.md", worklog.page_markdown(page))


def test_the_weekly_page_as_json_matches_the_golden_file(tmp_path):
    page = worklog.week_page(recorded_history(tmp_path).all_progress(), LABS, date(2025, 11, 5), number=9)
    check_golden("week-2025-11-03.json", json.dumps(worklog.page_json(page), indent=2) + "\n")


def test_week_numbers_count_from_the_first_lab(tmp_path):
    progress = recorded_history(tmp_path).all_progress()
    assert worklog.week_page(progress, LABS, date(2025, 10, 29)).number == 1
    assert worklog.week_page(progress, LABS, date(2025, 11, 9)).number == 2
    empty = worklog.week_page(progress, LABS, date(2025, 12, 1))
    assert empty.days == [] and "No lab was worked on this week." in worklog.page_markdown(empty)
