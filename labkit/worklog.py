"""Render progress as the study-group worklog table (seed 002).

| Day | Task | Start Date | Completion Date | Reference Material |

Day is the weekday in the worklog's convention (Monday = 2 ... Saturday = 7;
Sunday, which that convention leaves unnumbered, is 8). A lab's cell is its
bold title followed by its passed tasks as `<br>&emsp; + sub-step` lines.
Dates are MM/DD/YYYY from recorded progress.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

HEADER = "| Day | Task | Start Date | Completion Date | Reference Material |\n| --- | --- | --- | --- | --- |"


@dataclass
class WorklogRow:
    day: int
    lab: str
    title: str
    sub_steps: list[str]
    start_date: str
    completion_date: str | None
    references: list[dict] = field(default_factory=list)
    remaining: int = 0  # learner tasks not yet passed

    @property
    def finished(self) -> bool:
        return self.completion_date is not None


def weekday_number(moment: datetime) -> int:
    return moment.isoweekday() + 1  # Monday (1) -> 2 ... Sunday (7) -> 8


def us_date(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%m/%d/%Y")


def build_rows(progress_list, labs_by_id: dict) -> list[WorklogRow]:
    """One row per started lab, oldest first. Labs no longer in the catalog are skipped."""
    rows = []
    for progress in progress_list:
        lab = labs_by_id.get(progress.lab)
        if lab is None:
            continue
        passed = [task for task in lab.spec.tasks if task.id in progress.first_passes]
        started = datetime.fromisoformat(progress.started_at)
        rows.append(
            WorklogRow(
                day=weekday_number(started),
                lab=lab.id,
                title=lab.spec.title,
                sub_steps=[task.title for task in passed],
                start_date=us_date(progress.started_at),
                completion_date=us_date(progress.completed_at) if progress.completed_at else None,
                references=[ref.model_dump() for ref in lab.spec.references],
                remaining=len(lab.spec.tasks) - len(passed),
            )
        )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def task_cell(row: WorklogRow) -> str:
    title = f"- **{_cell(row.title)}**"
    if not row.finished:
        title += f" _(in progress: {row.remaining} task{'s' if row.remaining != 1 else ''} to go)_"
    return title + "".join(f" <br>&emsp; + {_cell(step)}" for step in row.sub_steps)


def reference_cell(row: WorklogRow) -> str:
    return " <br>".join(f"{_cell(ref['label'])}: <br> <{ref['url']}>" for ref in row.references)


def to_markdown(rows: list[WorklogRow]) -> str:
    lines = [HEADER]
    for row in rows:
        lines.append(
            f"| {row.day} | {task_cell(row)} | {row.start_date} | {row.completion_date or ''} | {reference_cell(row)} |"
        )
    return "\n".join(lines)


def to_json(rows: list[WorklogRow]) -> list[dict]:
    return [{**asdict(row), "finished": row.finished} for row in rows]
