"""Helpers for lab self-tests: start a lab, grade it, snapshot what a learner can see."""

from __future__ import annotations

from labkit import catalog, session
from labkit.grading import LabReport


def start(lab_id: str, engine_home) -> catalog.Lab:
    session.start_lab(lab_id, backend=engine_home.engine)
    return catalog.get(lab_id)


def check(lab_id: str, task: str | None = None) -> LabReport:
    return session.check_lab(lab_id, only=task)


def statuses(report: LabReport) -> dict[str, str]:
    return {task.id: task.status for task in report.tasks}


def message(report: LabReport, task_id: str) -> str:
    return next(task.message for task in report.tasks if task.id == task_id)


def learner_tasks(lab: catalog.Lab) -> list[str]:
    return [task.id for task in lab.spec.tasks if task.kind == "learner"]


def context(lab_id: str):
    """A CheckContext on the running emulator, for tests that build learner setups with boto3."""
    from labkit import emulator

    return session.make_context(catalog.get(lab_id), emulator.current_state())
