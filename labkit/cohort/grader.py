"""`lab cohort check` and `lab cohort setup`: every learner account at once.

The learners are split over worker processes (:mod:`.worker`, one per core, at
most four), each grading with a thread pool over one set of shared clients that
sign every request as the learner being graded; results stream back as each
learner finishes and are stored in one transaction as ``central`` checks.

Tasks graded by learner code (``graded_by: [learner-code]``) need the files
the learner wrote, which live on the learner's laptop. A joined learner's
`lab check` and every `lab handin` carry them (only the lab's own file names,
size-capped); the grader writes the latest of them into a private workspace
per learner and runs them there, against that learner's account. A learner
who never handed code in gets ``error: learner code not handed in`` for those
tasks, and with ``learner_code=False`` (``--no-learner-code``) no handed-in
code runs at all. Handed-in code runs with your user's rights, as nbgrader or
any local autograder does: see docs/workshops.md before grading strangers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .. import catalog
from ..defaults import CHECK_TIMEOUT
from . import engine
from .store import CohortStore, write_private

NOT_HANDED_IN = ("learner code not handed in: it reaches the facilitator with the learner's own `lab check` "
                 "after `lab join`, or with `lab handin` + `lab cohort import`")
NOT_RUN = "learner code not graded centrally (--no-learner-code); see the learner's own check"
MAX_WORKERS = 4
_SCRUBBED = ("AWS_", "LAB_COHORT", "BOTO_")


@dataclass
class RunResult:
    op: str
    lab: str
    learners: int
    seconds: float = 0.0
    ok: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # account -> why the whole learner failed
    reports: dict[str, dict] = field(default_factory=dict)  # account -> report json

    @property
    def complete(self) -> int:
        return sum(1 for report in self.reports.values() if report["passed"] == report["total"])


def _workspace(store: CohortStore, account: str, lab: catalog.Lab, files: dict[str, str]) -> str:
    folder = store.folder / "workspaces" / account / lab.id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    for name, content in files.items():
        target = (folder / name).resolve()
        if folder.resolve() not in target.parents:
            continue  # names were validated on ingest; never write outside the folder anyway
        target.parent.mkdir(parents=True, exist_ok=True)
        write_private(target, content)
    return str(folder)


def _worker_env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(_SCRUBBED)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(store: CohortStore, lab_id: str, op: str = "grade", accounts: list[str] | None = None,
        workers: int | None = None, threads: int = 8, timeout: float = CHECK_TIMEOUT,
        learner_code: bool = True, progress=None, store_results: bool = True) -> RunResult:
    """Grade (or set up) `lab_id` in every learner account (or just `accounts`)."""
    lab = catalog.get(lab_id)
    url, backend, allow_remote = engine.grading_endpoint(store)
    learners = store.learners()
    if accounts is not None:
        wanted = set(accounts)
        learners = [learner for learner in learners if learner.account_id in wanted]
    result = RunResult(op, lab.id, len(learners))
    if not learners:
        return result
    code_tasks = {task.id for task in lab.spec.tasks if "learner-code" in task.graded_by}
    empty = store.folder / "workspaces" / "_none"
    empty.mkdir(parents=True, exist_ok=True, mode=0o700)
    jobs, handed_in = [], set()
    for learner in learners:
        workspace = str(empty)
        if op == "grade" and code_tasks and learner_code:
            files = store.learner_files(learner.account_id, lab.id)
            if files:
                workspace = _workspace(store, learner.account_id, lab, files)
                handed_in.add(learner.account_id)
        jobs.append({"account": learner.account_id, "workspace": workspace})

    count = workers or min(MAX_WORKERS, os.cpu_count() or 1, max(1, len(jobs) // 10))
    chunks = [jobs[index::count] for index in range(count)]
    started = time.perf_counter()
    lock = threading.Lock()
    done = 0
    seen: set[str] = set()

    def collect(process: subprocess.Popen) -> None:
        nonlocal done
        for line in process.stdout:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            with lock:
                done += 1
                seen.add(item.get("account"))
                if item.get("ok"):
                    result.ok += 1
                    if "report" in item:
                        result.reports[item["account"]] = item["report"]
                else:
                    result.failed[item["account"]] = item.get("error", "unknown error")
                if progress:
                    progress(done, len(jobs))

    processes, readers = [], []
    with tempfile.TemporaryDirectory(prefix="lab-cohort-grade-") as scratch:
        for chunk in chunks:
            job = {"op": op, "lab": lab.id, "endpoint": url, "backend": backend, "allow_remote": allow_remote,
                   "timeout": timeout, "threads": threads, "learners": chunk}
            process = subprocess.Popen([sys.executable, "-m", "labkit.cohort.worker"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=scratch,
                                       env=_worker_env())
            process.stdin.write(json.dumps(job))
            process.stdin.close()
            reader = threading.Thread(target=collect, args=(process,), daemon=True)
            reader.start()
            processes.append(process)
            readers.append(reader)
        for process, reader in zip(processes, readers):
            process.wait()
            reader.join()
    for job in jobs:  # a worker that died takes its unfinished learners with it: say so
        if job["account"] not in seen:
            result.failed[job["account"]] = "the grading worker stopped before this learner was done"
    result.seconds = time.perf_counter() - started

    if op == "grade":
        for account, report in result.reports.items():
            for task in report["tasks"]:
                if task["id"] in code_tasks and account not in handed_in:
                    task["status"], task["message"] = "error", (NOT_HANDED_IN if learner_code else NOT_RUN)
            report["passed"] = sum(task["status"] == "pass" for task in report["tasks"])
        if store_results and result.reports:
            now = time.time()
            store.ingest_central([
                (account, lab.id, now, [(task["id"], task["status"], task["message"]) for task in report["tasks"]], report)
                for account, report in result.reports.items()
            ])
    return result
