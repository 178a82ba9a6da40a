"""Render progress as the study-group worklog table (seed 002).

| Day | Task | Start Date | Completion Date | Reference Material |

Day is the weekday in the worklog's convention (Monday = 2 ... Saturday = 7;
Sunday, which that convention leaves unnumbered, is 8). A lab's cell is its
bold title followed by its passed tasks as `<br>&emsp; + sub-step` lines.
Dates are MM/DD/YYYY from recorded progress.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

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
    remaining: int = 0  # tasks not yet passed
    hints_used: int = 0

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
                hints_used=sum(progress.hints_used.values()),
            )
        )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def task_cell(row: WorklogRow) -> str:
    heading = _lab_heading(row.title, row.finished, row.remaining, row.hints_used)
    return heading + "".join(f" <br>&emsp; + {_cell(step)}" for step in row.sub_steps)


def reference_cell(row: WorklogRow) -> str:
    return " <br> ".join(f"{_cell(ref['label'])}: <br> <{ref['url']}>" for ref in row.references)


def to_markdown(rows: list[WorklogRow]) -> str:
    lines = [HEADER]
    for row in rows:
        lines.append(
            f"| {row.day} | {task_cell(row)} | {row.start_date} | {row.completion_date or ''} | {reference_cell(row)} |"
        )
    return "\n".join(lines)


def to_json(rows: list[WorklogRow]) -> list[dict]:
    return [{**asdict(row), "finished": row.finished} for row in rows]


# -- the weekly page ------------------------------------------------------------------
@dataclass
class DayLab:
    lab: str
    title: str
    sub_steps: list[str]  # tasks first passed that day
    started: str  # MM/DD/YYYY
    completed: str | None
    remaining: int
    hints_used: int
    references: list[dict]


@dataclass
class WeekPage:
    number: int
    monday: date
    objectives: list[str]
    days: list[tuple[date, list[DayLab]]]
    achievements: list[str]

    @property
    def title(self) -> str:
        return f"Week {self.number} Worklog"


SERVICE_NAMES = {
    "sns": "SNS", "sqs": "SQS", "s3": "S3", "kms": "KMS", "iam": "IAM", "sts": "STS", "ec2": "EC2",
    "dynamodb": "DynamoDB", "cloudformation": "CloudFormation", "cloudwatch": "CloudWatch",
    "autoscaling": "Auto Scaling", "lambda": "Lambda", "events": "EventBridge", "logs": "CloudWatch Logs",
}


def service_name(service: str) -> str:
    return SERVICE_NAMES.get(service, service.capitalize())


def _local_date(iso: str) -> date:
    return datetime.fromisoformat(iso).date()


def week_page(progress_list, labs_by_id: dict, day: date, number: int | None = None) -> WeekPage:
    """The page for the Monday-to-Sunday week holding `day`.

    A lab appears on every day it was started or had a task pass for the first
    time, with that day's passes as sub-steps. The week number counts weeks
    from the learner's first lab (week 1), like a study programme's weeks,
    unless `number` is given.
    """
    monday = day - timedelta(days=day.weekday())
    sunday = monday + timedelta(days=6)
    known = [p for p in progress_list if p.lab in labs_by_id]
    if number is None:
        first = min((_local_date(p.started_at) for p in known), default=monday)
        number = max(1, (monday - (first - timedelta(days=first.weekday()))).days // 7 + 1)
    by_day: dict[date, list[DayLab]] = {}
    worked: list = []
    for progress in known:
        lab = labs_by_id[progress.lab]
        passes_by_day: dict[date, list[str]] = {}
        for task in lab.spec.tasks:
            when = progress.first_passes.get(task.id)
            if when:
                passes_by_day.setdefault(_local_date(when), []).append(task.title)
        active = set(passes_by_day) | {_local_date(progress.started_at)}
        in_week = sorted(d for d in active if monday <= d <= sunday)
        if in_week:
            worked.append((lab, progress))
        for when in in_week:
            by_day.setdefault(when, []).append(DayLab(
                lab=lab.id,
                title=lab.spec.title,
                sub_steps=passes_by_day.get(when, []),
                started=us_date(progress.started_at),
                completed=us_date(progress.completed_at) if progress.completed_at else None,
                remaining=len(lab.spec.tasks) - len(progress.first_passes),
                hints_used=sum(progress.hints_used.values()),
                references=[ref.model_dump() for ref in lab.spec.references],
            ))
    objectives = [f"{lab.spec.title} ({', '.join(service_name(s) for s in lab.spec.services)})." for lab, _ in worked]
    achievements = []
    for lab, progress in worked:
        if progress.completed_at and monday <= _local_date(progress.completed_at) <= sunday:
            achievements.append(lab.spec.achievement.rstrip(".") + ".")
        elif not progress.completed_at:
            done = len(progress.first_passes)
            achievements.append(f"Made progress on {lab.spec.title}: {done} of {len(lab.spec.tasks)} tasks done so far.")
    return WeekPage(number, monday, objectives, sorted(by_day.items()), achievements)


def _lab_heading(title: str, finished: bool, remaining: int, hints: int) -> str:
    notes = []
    if not finished:
        notes.append(f"in progress: {remaining} task{'s' if remaining != 1 else ''} to go")
    if hints:
        notes.append(f"{hints} hint{'s' if hints != 1 else ''} used")
    return f"- **{_cell(title)}**" + (f" _({'; '.join(notes)})_" if notes else "")


def _day_lab_cell(entry: DayLab) -> str:
    heading = _lab_heading(entry.title, entry.completed is not None, entry.remaining, entry.hints_used)
    return heading + "".join(f" <br>&emsp; + {_cell(step)}" for step in entry.sub_steps)


def page_markdown(page: WeekPage) -> str:
    lines = [
        "---",
        f'title: "{page.title}"',
        f'date: "{page.monday.isoformat()}"',
        f"weight: {page.number}",
        "chapter: false",
        f'pre: " <b> 1.{page.number}. </b> "',
        "---",
        "",
        f"### Week {page.number} Objectives:",
        "",
        *([f"- {objective}" for objective in page.objectives] or ["- No lab was worked on this week."]),
        "",
        "### Tasks carried out this week:",
        "",
        HEADER,
    ]
    for day, entries in page.days:
        labs_cell = " <br> ".join(_day_lab_cell(entry) for entry in entries)
        started = min(datetime.strptime(e.started, "%m/%d/%Y") for e in entries).strftime("%m/%d/%Y")
        finished = [e.completed for e in entries]
        completion = max(datetime.strptime(c, "%m/%d/%Y") for c in finished).strftime("%m/%d/%Y") if all(finished) else ""
        references = " <br> ".join(
            f"{_cell(ref['label'])}: <br> <{ref['url']}>" for entry in entries for ref in entry.references[:1])
        lines.append(f"| {weekday_number(datetime.combine(day, datetime.min.time()))} | {labs_cell} | {started} "
                     f"| {completion} | {references} |")
    lines += ["", f"### Week {page.number} Achievements:", ""]
    for achievement in page.achievements or ["No lab was completed this week."]:
        lines += [f"- {achievement}", ""]
    return "\n".join(lines).rstrip() + "\n"


def page_json(page: WeekPage) -> dict:
    return {
        "week": page.number,
        "title": page.title,
        "monday": page.monday.isoformat(),
        "objectives": page.objectives,
        "days": [{"date": day.isoformat(), "day": weekday_number(datetime.combine(day, datetime.min.time())),
                  "labs": [asdict(entry) for entry in entries]} for day, entries in page.days],
        "achievements": page.achievements,
    }
