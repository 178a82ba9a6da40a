"""Run a lab's checks: one verdict per task, each isolated and time-limited."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

from botocore.exceptions import ReadTimeoutError

from .checks import CONNECTION_LOST, CheckContext, Fail, Inconclusive
from .defaults import CHECK_TIMEOUT

DEFAULT_TIMEOUT = CHECK_TIMEOUT
DRAIN_SECONDS = 5.0  # at most this long (and never longer than one task's timeout) for timed-out checks to clean up
PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass
class TaskResult:
    id: str
    title: str
    status: str
    message: str
    points: float
    seconds: float = 0.0

    @property
    def earned(self) -> float:
        return self.points if self.status == PASS else 0.0


@dataclass
class LabReport:
    lab: str
    title: str
    backend: str
    tasks: list[TaskResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    api_seconds: float = 0.0  # inside AWS client calls (see aws.ApiMeter)
    wire_seconds: float = 0.0  # of which HTTP round trips
    api_calls: int = 0
    emulator_lost: bool = False

    @property
    def passed(self) -> int:
        return sum(task.status == PASS for task in self.tasks)

    @property
    def total(self) -> int:
        return len(self.tasks)

    @property
    def score(self) -> float:
        return round(sum(task.earned for task in self.tasks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(task.points for task in self.tasks), 6)

    @property
    def all_passed(self) -> bool:
        return self.passed == self.total

    def status_of(self, task_id: str) -> str:
        return next(task.status for task in self.tasks if task.id == task_id)

    def to_json(self) -> dict:
        """The `lab check --json` document (schema in README)."""
        return {
            "lab": self.lab,
            "passed": self.passed,
            "total": self.total,
            "score": self.score,
            "max_score": self.max_score,
            "backend": self.backend,
            "tasks": [
                {key: value for key, value in asdict(task).items() if key in ("id", "title", "status", "message")}
                for task in self.tasks
            ],
            "timing": {
                "wall_seconds": round(self.wall_seconds, 4),
                "api_seconds": round(self.api_seconds, 4),
                "wire_seconds": round(self.wire_seconds, 4),
                "api_calls": self.api_calls,
            },
        }


def _run_one(check, ctx: CheckContext, timeout: float, abandoned: list | None = None) -> tuple[str, str, bool]:
    """(status, message, emulator_lost) for one check, in a thread we can stop waiting for
    (a thread that outlives its timeout is appended to `abandoned`)."""
    outcome: dict = {}

    def target():
        try:
            outcome["message"] = check(ctx)
            outcome["status"] = PASS
        except Fail as exc:
            outcome["status"], outcome["message"] = FAIL, str(exc)
        except Inconclusive as exc:
            outcome["status"], outcome["message"] = ERROR, str(exc)
        except CONNECTION_LOST as exc:
            outcome["status"], outcome["lost"] = ERROR, True
            outcome["message"] = f"the emulator stopped answering during this check ({type(exc).__name__})"
        except ReadTimeoutError:
            outcome["status"] = ERROR
            outcome["message"] = "the emulator did not answer a request in time"
        except Exception as exc:  # noqa: BLE001 - a crashing check is an error for its task only
            outcome["status"] = ERROR
            outcome["message"] = f"the check itself crashed: {type(exc).__name__}: {exc}"

    worker = threading.Thread(target=target, daemon=True, name=f"check-{check.__name__}")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        if abandoned is not None:
            abandoned.append(worker)
        return ERROR, f"timed out after {timeout:g} s", False
    message = outcome.get("message") or "passed"
    return outcome["status"], str(message), outcome.get("lost", False)


def grade(lab, checker, ctx: CheckContext, timeout: float = DEFAULT_TIMEOUT, only: str | None = None) -> LabReport:
    """Run every task's check (or just `only`) and collect the verdicts."""
    ctx.begin_run()
    report = LabReport(lab=lab.id, title=lab.spec.title, backend=ctx.backend)
    meter = ctx.factory.meter
    api_before, wire_before, calls_before = meter.seconds, meter.wire_seconds, meter.calls
    started = time.perf_counter()
    abandoned: list[threading.Thread] = []
    for task in lab.spec.tasks:
        if only and task.id != only:
            continue
        if report.emulator_lost:
            status, message = ERROR, "not run: the emulator stopped answering earlier in this check"
            elapsed = 0.0
        elif ctx.backend in task.not_on:
            status, elapsed = ERROR, 0.0
            hosts = [name for name in ("ministack", "moto", "localstack") if name not in task.not_on]
            message = f"the {ctx.backend} backend cannot host this task ({task.not_on[ctx.backend]})"
            message += f"; it runs on {' or '.join(hosts)}" if hosts else ""
        else:
            t0 = time.perf_counter()
            status, message, lost = _run_one(checker.checks[task.id], ctx, timeout, abandoned)
            elapsed = time.perf_counter() - t0
            report.emulator_lost |= lost
        report.tasks.append(TaskResult(task.id, task.title, status, message, task.points, elapsed))
    report.wall_seconds = time.perf_counter() - started
    report.api_seconds = meter.seconds - api_before
    report.wire_seconds = meter.wire_seconds - wire_before
    report.api_calls = meter.calls - calls_before
    _let_finish(abandoned, min(timeout, DRAIN_SECONDS))
    return report


def _let_finish(threads: list[threading.Thread], budget: float) -> None:
    """Give checks that timed out a moment to finish, so their probes' clean-up (the `finally`
    blocks that delete probe queues and items) runs before the process exits and ends them."""
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
