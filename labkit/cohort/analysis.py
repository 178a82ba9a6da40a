"""From a cohort snapshot to what facilitators read: the grid, who is stuck, item analysis, grades.

Pure functions over :meth:`CohortStore.snapshot` and the labs' specs. Points
are summed as :class:`decimal.Decimal` built from the lab.yaml text of each
value (0.5 stays 0.5; 0.1 + 0.2 is 0.3), and printed without float noise.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal

from .protocol import iso

DEFAULT_STUCK_MINUTES = 10
POLICIES = ("best", "latest")
SOURCES = ("all", "central", "learner")


def points(value: float) -> Decimal:
    """The exact decimal a lab author wrote (0.5, 1, 2.25): via repr, not the binary float."""
    return Decimal(repr(float(value)))


def fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


@dataclass
class TaskView:
    status: str  # latest: pass | fail | error | none
    passed: bool  # ever passed (in the chosen sources)
    message: str
    at: float | None
    source: str | None
    first_pass_at: float | None
    checks: int
    hints: int


def build(snapshot: dict, labs: dict, stuck_minutes: float = DEFAULT_STUCK_MINUTES, now: float | None = None,
          sources: str = "all") -> dict:
    """The dashboard document (also served as JSON at /_cohort/api/grid)."""
    now = now or time.time()
    meta = snapshot["meta"]
    lab_ids = [lab_id for lab_id in labs]
    hints = {(learner, lab, task): count for learner, lab, task, count in snapshot["hints"]}
    tasks: dict[tuple[str, str, str], TaskView] = {}
    for (learner, lab, task, origin, first_pass_at, last_status, last_message, last_at, last_source,
         checks, _fails, _errors) in snapshot["tasks"]:
        if sources != "all" and origin != sources:
            continue
        key = (learner, lab, task)
        view = tasks.get(key)
        if view is None:
            tasks[key] = TaskView(last_status or "none", first_pass_at is not None, last_message or "", last_at,
                                  last_source, first_pass_at, checks, hints.get(key, 0))
            continue
        # The other origin's row: earliest pass, latest verdict, checks added up.
        if first_pass_at is not None and (view.first_pass_at is None or first_pass_at < view.first_pass_at):
            view.first_pass_at = first_pass_at
        view.passed = view.first_pass_at is not None
        if last_at is not None and (view.at is None or last_at >= view.at):
            view.status, view.message, view.at, view.source = last_status or "none", last_message or "", last_at, last_source
        view.checks += checks
    lab_state = {(learner, lab): (reported, first_check, last_check)
                 for learner, lab, reported, first_check, last_check in snapshot["labs"]}
    activity = {account: (first, last, requests, call) for account, first, last, requests, call in snapshot["activity"]}
    handed_in = {(learner, lab): (count, at) for learner, lab, count, at in snapshot["files"]}

    lab_docs, items, stuck = [], [], []
    learner_docs = []
    for learner in snapshot["learners"]:
        seen = activity.get(learner.account_id)
        learner_docs.append({
            "id": learner.id, "name": learner.name, "email": learner.email, "account": learner.account_id,
            "first_seen": iso(seen[0]) if seen else None, "last_seen": iso(seen[1]) if seen else None,
            "requests": seen[2] if seen else 0, "last_call": seen[3] if seen else None, "labs": {},
        })

    for lab_id in lab_ids:
        lab = labs[lab_id]
        spec_tasks = lab.spec.tasks
        max_points = sum((points(task.points) for task in spec_tasks), Decimal(0))
        complete = started = 0
        for learner, doc in zip(snapshot["learners"], learner_docs):
            views = {task.id: tasks.get((learner.account_id, lab_id, task.id)) for task in spec_tasks}
            state = lab_state.get((learner.account_id, lab_id))
            is_started = state is not None or any(views.values())
            passed_tasks = [task for task in spec_tasks if views[task.id] and views[task.id].passed]
            score = sum((points(task.points) for task in passed_tasks), Decimal(0))
            is_complete = len(passed_tasks) == len(spec_tasks)
            started += is_started
            complete += is_complete
            start = _start_time(state, activity.get(learner.account_id))
            pass_times = [views[t.id].first_pass_at for t in passed_tasks if views[t.id].first_pass_at]
            last_progress = max([*pass_times, start] if start else pass_times, default=None)
            minutes_idle = (now - last_progress) / 60 if last_progress else None
            is_stuck = bool(is_started and not is_complete and minutes_idle is not None and minutes_idle >= stuck_minutes)
            next_task = next((task for task in spec_tasks if not (views[task.id] and views[task.id].passed)), None)
            lab_doc = {
                "started": is_started, "complete": is_complete,
                "passed": len(passed_tasks), "total": len(spec_tasks),
                "score": fmt(score), "max_score": fmt(max_points),
                "started_at": iso(start), "last_progress_at": iso(last_progress),
                "stuck": is_stuck, "idle_minutes": round(minutes_idle, 1) if minutes_idle is not None else None,
                "code_handed_in": (learner.account_id, lab_id) in handed_in,
                "tasks": {
                    task.id: ({"status": view.status, "passed": view.passed, "message": view.message,
                               "at": iso(view.at), "source": view.source, "first_pass_at": iso(view.first_pass_at),
                               "checks": view.checks, "hints": view.hints}
                              if (view := views[task.id]) else
                              {"status": "none", "passed": False, "message": "", "at": None, "source": None,
                               "first_pass_at": None, "checks": 0,
                               "hints": hints.get((learner.account_id, lab_id, task.id), 0)})
                    for task in spec_tasks
                },
            }
            doc["labs"][lab_id] = lab_doc
            if is_stuck:
                view = views[next_task.id] if next_task else None
                seen = activity.get(learner.account_id)
                active = max([t for t in ((seen[1] if seen else None), (state[2] if state else None)) if t], default=None)
                stuck.append({
                    "learner": learner.id, "name": learner.name, "account": learner.account_id, "lab": lab_id,
                    "minutes": round(minutes_idle), "task": next_task.id if next_task else None,
                    "task_title": next_task.title if next_task else None,
                    "message": view.message if view else "", "status": view.status if view else "none",
                    "hints": sum(hints.get((learner.account_id, lab_id, t.id), 0) for t in spec_tasks),
                    # still working (recent requests or checks) or away?
                    "active_minutes_ago": round((now - active) / 60) if active else None,
                })
        lab_docs.append({
            "id": lab_id, "title": lab.spec.title, "max_score": fmt(max_points),
            "tasks": [{"id": task.id, "title": task.title, "points": fmt(points(task.points)),
                       "learner_code": "learner-code" in task.graded_by, "kind": task.kind} for task in spec_tasks],
            "learners": len(learner_docs), "started": started, "complete": complete,
        })
        items.extend(_items(lab, snapshot, tasks, lab_state, activity, sources, hints))

    stuck.sort(key=lambda row: -row["minutes"])
    return {
        "cohort": {"name": meta.get("name"), "id": meta.get("cohort_id"), "engine": meta.get("engine"),
                   "url": meta.get("url"), "learners": len(learner_docs)},
        "version": int(meta.get("version", 0)),
        "generated_at": iso(now),
        "stuck_minutes": stuck_minutes,
        "sources": sources,
        "labs": lab_docs,
        "learners": learner_docs,
        "stuck": stuck,
        "items": items,
    }


def _start_time(state, seen) -> float | None:
    """When a learner started a lab: their own `lab start` if reported, else their first request or check."""
    if state is not None and state[0] is not None:
        return state[0]
    candidates = [value for value in ((state[1] if state else None), (seen[0] if seen else None)) if value]
    return min(candidates) if candidates else None


def _items(lab, snapshot, tasks, lab_state, activity, sources, hints) -> list[dict]:
    fails_by_task: dict[str, int] = {}
    for row in snapshot["tasks"]:
        if row[1] == lab.id and (sources == "all" or row[3] == sources):
            fails_by_task[row[2]] = fails_by_task.get(row[2], 0) + row[10]
    failures: dict[str, list] = {}
    for lab_id, task, message, learners, count in snapshot["failures"]:
        if lab_id == lab.id:
            failures.setdefault(task, []).append((learners, count, message))
    rows = []
    for task in lab.spec.tasks:
        checks = fails = 0
        attempted = passed = 0
        durations, hints_total, hinted = [], 0, 0
        for learner in snapshot["learners"]:
            used = hints.get((learner.account_id, lab.id, task.id), 0)
            hints_total += used
            hinted += used > 0
            view = tasks.get((learner.account_id, lab.id, task.id))
            if view is None:
                continue
            attempted += view.checks > 0
            checks += view.checks
            if view.passed:
                passed += 1
                start = _start_time(lab_state.get((learner.account_id, lab.id)), activity.get(learner.account_id))
                if start is not None and view.first_pass_at is not None:
                    durations.append(max(0.0, view.first_pass_at - start))
        fails = fails_by_task.get(task.id, 0)
        common = max(failures.get(task.id, []), default=None)
        rows.append({
            "lab": lab.id, "task": task.id, "title": task.title, "kind": task.kind,
            "checks": checks, "fails": fails,
            "fail_rate": round(fails / checks, 3) if checks else None,
            "learners_attempted": attempted, "learners_passed": passed,
            "median_seconds_to_pass": round(statistics.median(durations), 1) if durations else None,
            "hints": hints_total, "learners_with_hints": hinted,
            "common_failure": {"message": common[2], "learners": common[0], "times": common[1]} if common else None,
        })
    return rows


# -- grades --------------------------------------------------------------------------------------------
def grades(snapshot: dict, labs: dict, policy: str = "best", sources: str = "all") -> dict:
    """One row per learner, one column per task plus totals; values are exact decimal strings.

    policy "best": a task earns its points once it has passed in any recorded check;
    "latest": only if its most recent check passed."""
    grid = build(snapshot, labs, sources=sources)
    columns = [f"{lab['id']}:{task['id']}" for lab in grid["labs"] for task in lab["tasks"]]
    max_points = {f"{lab['id']}:{task['id']}": Decimal(task["points"]) for lab in grid["labs"] for task in lab["tasks"]}
    rows = []
    for learner in grid["learners"]:
        cells, lab_totals, total = {}, {}, Decimal(0)
        for lab in grid["labs"]:
            lab_total = Decimal(0)
            for task in lab["tasks"]:
                view = learner["labs"][lab["id"]]["tasks"][task["id"]]
                earned = view["passed"] if policy == "best" else view["status"] == "pass"
                value = Decimal(task["points"]) if earned else Decimal(0)
                cells[f"{lab['id']}:{task['id']}"] = fmt(value)
                lab_total += value
            lab_totals[lab["id"]] = fmt(lab_total)
            total += lab_total
        rows.append({"id": learner["id"], "name": learner["name"], "email": learner["email"],
                     "account": learner["account"], "tasks": cells, "labs": lab_totals, "total": fmt(total)})
    grand = sum((Decimal(lab["max_score"]) for lab in grid["labs"]), Decimal(0))
    return {
        "cohort": grid["cohort"]["name"], "policy": policy, "sources": sources, "generated_at": grid["generated_at"],
        "columns": columns,
        "max_points": {**{column: fmt(value) for column, value in max_points.items()},
                       **{f"{lab['id']}:total": lab["max_score"] for lab in grid["labs"]}, "total": fmt(grand)},
        "labs": [lab["id"] for lab in grid["labs"]],
        "learners": rows,
    }


def grades_csv(document: dict) -> str:
    """CSV for an LMS: learner columns, one column per task (`lab:task`), a total per lab, the total and its maximum."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    lab_columns = [f"{lab}:total" for lab in document["labs"]]
    writer.writerow(["id", "name", "email", "account", *document["columns"], *lab_columns, "total", "max_total"])
    for row in document["learners"]:
        writer.writerow([_safe(row["id"]), _safe(row["name"]), _safe(row["email"] or ""), row["account"],
                         *(row["tasks"][column] for column in document["columns"]),
                         *(row["labs"][lab] for lab in document["labs"]), row["total"],
                         document["max_points"]["total"]])
    return out.getvalue()


def _safe(text: str) -> str:
    """Keep spreadsheet apps from running a roster name as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
