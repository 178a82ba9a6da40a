"""The runtime's verbs: what `lab start/check/solve/reset/hint` do, without any rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import catalog, emulator, workspace
from .aws import ClientFactory
from .backends import EmulatorState
from .checks import CheckContext
from .errors import BadInput
from .grading import DEFAULT_TIMEOUT, LabReport, grade
from .progress import ProgressStore


# Called with (report, store) after every recorded check, e.g. to submit the
# result to a cohort's collector. An observer must never slow or fail the check.
AFTER_CHECK: list = []


def resolve_lab(lab_id: str | None, store: ProgressStore) -> catalog.Lab:
    """The named lab, or the one started last."""
    if lab_id:
        return catalog.get(lab_id)
    current = store.current_lab()
    if current is None:
        raise BadInput("No lab has been started yet.", fix="`lab list` shows the labs; then `lab start sns-fanout`")
    return catalog.get(current)


def make_context(lab: catalog.Lab, state: EmulatorState, read_timeout: float = 10) -> CheckContext:
    factory = ClientFactory(state.endpoint(), read_timeout=read_timeout)
    return CheckContext(lab, factory, workspace.workspace_for(lab.id), state.backend)


@dataclass
class StartResult:
    lab: catalog.Lab
    state: EmulatorState
    reason: str
    workspace: Path
    copied: list[str]


def start_lab(lab_id: str, backend: str = "auto", port: int | None = None, endpoint: str | None = None,
              store: ProgressStore | None = None, access_key: str | None = None,
              allow_remote: bool = False) -> StartResult:
    lab = catalog.get(lab_id)  # validate before starting anything
    checker = lab.checker()
    store = store or ProgressStore()
    state, reason = emulator.ensure_running(backend, port=port, endpoint=endpoint, access_key=access_key,
                                            allow_remote=allow_remote)
    ws, copied = workspace.prepare(lab)
    if checker.setup_fn:
        checker.setup_fn(make_context(lab, state))
    store.record_start(lab.id, state.backend, str(ws))
    return StartResult(lab, state, reason, ws, copied)


def check_lab(lab_id: str | None = None, timeout: float = DEFAULT_TIMEOUT, only: str | None = None,
              store: ProgressStore | None = None, record: bool = True) -> LabReport:
    store = store or ProgressStore()
    lab = resolve_lab(lab_id, store)
    if only and lab.spec.task(only) is None:
        raise BadInput(f"Lab {lab.id} has no task '{only}'.", fix=f"`lab show {lab.id}` lists its tasks")
    checker = lab.checker()
    _, state = emulator.require_endpoint(lab.id)
    report = grade(lab, checker, make_context(lab, state, read_timeout=timeout), timeout=timeout, only=only)
    # An attempt the emulator cut short says nothing about the learner's work: like `lab watch`,
    # leave progress (and the cohort's observers) as they were.
    if record and not report.emulator_lost:
        record_check(lab, report, store)
    return report


def record_check(lab: catalog.Lab, report: LabReport, store: ProgressStore) -> None:
    """Store a check attempt and tell the observers (e.g. a cohort's collector)."""
    store.record_attempt(report, [task.id for task in lab.spec.tasks])
    for observer in AFTER_CHECK:
        observer(report, store)


def solve_lab(lab_id: str, store: ProgressStore | None = None) -> tuple[catalog.Lab, Path, list[str]]:
    store = store or ProgressStore()
    lab = catalog.get(lab_id)
    checker = lab.checker()
    _, state = emulator.require_endpoint(lab.id)
    ctx = make_context(lab, state)
    if checker.setup_fn:
        checker.setup_fn(ctx)
    ws, backups = workspace.install_solution(lab)
    checker.solve_fn(ctx)
    store.record_start(lab.id, state.backend, str(ws))
    return lab, ws, backups


def reset_lab(lab_id: str | None, store: ProgressStore | None = None) -> catalog.Lab:
    """Remove the lab's resources from the emulator (if running) and its progress."""
    store = store or ProgressStore()
    lab = resolve_lab(lab_id, store)
    checker = lab.checker()
    state = emulator.current_state()
    if state is not None and emulator.is_alive(state) and checker.cleanup_fn:
        checker.cleanup_fn(make_context(lab, state))
    store.forget_lab(lab.id)
    return lab


@dataclass
class Hint:
    lab: catalog.Lab
    task_id: str
    task_title: str
    number: int  # 1-based
    count: int
    text: str
    already_passed: bool


def next_hint(task_id: str | None = None, lab_id: str | None = None, store: ProgressStore | None = None) -> Hint:
    """Reveal the next hint of the first unfinished task (or of `task_id`) and record it."""
    store = store or ProgressStore()
    lab = resolve_lab(lab_id, store)
    progress = store.lab_progress(lab.id)
    passed = progress.first_passes if progress else {}
    if task_id:
        task = lab.spec.task(task_id)
        if task is None:
            raise BadInput(f"Lab {lab.id} has no task '{task_id}'.", fix=f"`lab show {lab.id}` lists its tasks")
    else:
        unfinished = [t for t in lab.spec.tasks if t.id not in passed]
        if not unfinished:
            raise BadInput(f"Every task of {lab.id} has passed; there is nothing left to hint.")
        task = unfinished[0]
    revealed = store.hints_revealed(lab.id, task.id)
    index = min(revealed, len(task.hints) - 1)  # past the last hint, repeat the worked command
    store.record_hint(lab.id, task.id, index)
    return Hint(lab, task.id, task.title, index + 1, len(task.hints), task.hints[index], task.id in passed)


def run_report(lab_id: str | None, name: str | None, store: ProgressStore | None = None) -> tuple[catalog.Lab, str, str]:
    """Run a checker's named read-only report; returns (lab, report name, Markdown)."""
    store = store or ProgressStore()
    lab = resolve_lab(lab_id, store)
    checker = lab.checker()
    if not checker.reports:
        raise BadInput(f"Lab {lab.id} has no reports.")
    name = name or next(iter(checker.reports))
    if name not in checker.reports:
        raise BadInput(f"Lab {lab.id} has no report '{name}'; it has {', '.join(checker.reports)}.")
    _, state = emulator.require_endpoint(lab.id)
    return lab, name, checker.reports[name](make_context(lab, state))
