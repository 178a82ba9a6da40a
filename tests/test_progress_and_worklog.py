"""Progress is durable and concurrent-safe; the worklog is the seed-002 table."""

from __future__ import annotations

import multiprocessing

from labkit import catalog, worklog
from labkit.grading import LabReport, TaskResult
from labkit.progress import ProgressStore


def report_for(lab_id: str, passed: set[str]) -> LabReport:
    lab = catalog.get(lab_id)
    report = LabReport(lab=lab_id, title=lab.spec.title, backend="ministack")
    for task in lab.spec.tasks:
        status = "pass" if task.id in passed else "fail"
        report.tasks.append(TaskResult(task.id, task.title, status, f"{task.id} {status}", task.points))
    return report


def all_tasks(lab_id: str) -> list[str]:
    return [task.id for task in catalog.get(lab_id).spec.tasks]


def test_first_pass_times_and_completion_are_recorded_once(tmp_path):
    store = ProgressStore(tmp_path / "p.db")
    store.record_start("sns-fanout", "ministack", "/ws", at="2025-11-03T09:00:00+07:00")
    store.record_attempt(report_for("sns-fanout", {"deploy-initial-resources", "create-topic"}),
                         all_tasks("sns-fanout"), at="2025-11-03T09:10:00+07:00")
    store.record_attempt(report_for("sns-fanout", set(all_tasks("sns-fanout"))),
                         all_tasks("sns-fanout"), at="2025-11-03T10:00:00+07:00")
    store.record_attempt(report_for("sns-fanout", {"create-topic"}), all_tasks("sns-fanout"),
                         at="2025-11-04T08:00:00+07:00")
    progress = store.lab_progress("sns-fanout")
    assert progress.first_passes["create-topic"] == "2025-11-03T09:10:00+07:00"
    assert progress.first_passes["validate-fanout"] == "2025-11-03T10:00:00+07:00"
    assert progress.completed_at == "2025-11-03T10:00:00+07:00"  # a later regression keeps it
    assert progress.attempts == 3
    assert progress.last_results["validate-fanout"][0] == "fail"
    store.record_start("sns-fanout", "moto", "/ws", at="2025-11-05T09:00:00+07:00")
    assert store.lab_progress("sns-fanout").started_at == "2025-11-03T09:00:00+07:00"


def test_hints_are_counted_per_task(tmp_path):
    store = ProgressStore(tmp_path / "p.db")
    store.record_hint("sns-fanout", "create-topic", 0)
    store.record_hint("sns-fanout", "create-topic", 1)
    store.record_hint("sns-fanout", "create-topic", 1)  # repeating the worked command counts once
    assert store.hints_revealed("sns-fanout", "create-topic") == 2


def _hammer(path, worker: int, count: int) -> None:
    store = ProgressStore(path)
    for _ in range(count):
        store.record_attempt(report_for("sns-fanout", {"create-topic"} if worker % 2 else set()),
                             all_tasks("sns-fanout"))


def test_concurrent_checks_from_several_terminals_do_not_corrupt_progress(tmp_path):
    path = tmp_path / "p.db"
    ProgressStore(path)
    workers = [multiprocessing.Process(target=_hammer, args=(path, n, 25)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    store = ProgressStore(path)
    assert store.attempt_count("sns-fanout") == 100
    assert store.integrity_problems() == []


def test_worklog_rows_use_the_seed_002_shape(tmp_path):
    store = ProgressStore(tmp_path / "p.db")
    store.record_start("sns-fanout", "ministack", "/ws", at="2025-11-03T09:00:00+07:00")  # a Monday
    store.record_attempt(report_for("sns-fanout", set(all_tasks("sns-fanout"))), all_tasks("sns-fanout"),
                         at="2025-11-03T11:00:00+07:00")
    labs = {lab.id: lab for lab in catalog.all_labs()}
    table = worklog.to_markdown(worklog.build_rows(store.all_progress(), labs))
    lines = table.splitlines()
    assert lines[0] == "| Day | Task | Start Date | Completion Date | Reference Material |"
    assert lines[1] == "| --- | --- | --- | --- | --- |"
    row = lines[2]
    assert row.startswith("| 2 | - **Build a Publish/Subscribe Messaging Workflow using Amazon SNS** <br>&emsp; + "
                          "Deploy initial resources via a CloudFormation template <br>&emsp; + Create an SNS topic")
    assert "| 11/03/2025 | 11/03/2025 |" in row
    assert "Messaging with Amazon SNS: <br> <https://000059.awsstudygroup.com/>" in row


def test_an_unfinished_lab_is_marked_not_hidden(tmp_path):
    store = ProgressStore(tmp_path / "p.db")
    store.record_start("sns-fanout", "ministack", "/ws", at="2025-11-09T09:00:00+07:00")  # a Sunday
    store.record_attempt(report_for("sns-fanout", {"create-topic"}), all_tasks("sns-fanout"),
                         at="2025-11-09T09:30:00+07:00")
    labs = {lab.id: lab for lab in catalog.all_labs()}
    rows = worklog.build_rows(store.all_progress(), labs)
    assert rows[0].day == 8 and rows[0].completion_date is None
    cell = worklog.task_cell(rows[0])
    assert "_(in progress: 6 tasks to go)_" in cell
    assert cell.endswith("<br>&emsp; + Create an SNS topic to broadcast messages")
    assert worklog.to_json(rows)[0]["finished"] is False
