"""`python -m benchmarks.cohort [--learners 100] [--rounds 2] [--engine ministack] [--quick] [--json FILE]`

A workshop on one machine: N simulated learners on one shared emulator behind
the real `lab cohort serve` (a subprocess, with its own throw-away LAB_HOME).

1. Every learner does sns-fanout through the gateway with their own account:
   what `lab start` does (the CloudFormation stack), then the reference
   solution (7 in 10 learners) or just the topic (the others).
2. Every learner checks ROUNDS times, the way a joined learner's `lab check`
   does: grade their account, sign the report, POST it to the collector. The
   POSTs are timed (submission latency, under the load of everyone checking).
3. `lab cohort check sns-fanout`, the real command, grades every account at
   once; its wall time is the headline figure.
4. Memory: RSS of the emulator's process tree, and of `lab cohort serve`.

It prints a table against the targets and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
LAB = "sns-fanout"
TARGETS = {"grade_seconds": 15.0, "emulator_rss_mb": 1536.0}


def _learner_work(job: dict) -> dict:
    """One process: do the lab and check ROUNDS times for a slice of learners, with threads."""
    from labkit import catalog
    from labkit.aws import ClientFactory, Endpoint
    from labkit.checks import CheckContext
    from labkit.cohort import protocol
    from labkit.cohort.harness import submit
    from labkit.grading import grade

    lab = catalog.get(LAB)
    checker = lab.checker()
    solution = lab.folder / "solution"
    starter = lab.folder / "starter"

    def context(learner: dict) -> CheckContext:
        factory = ClientFactory(Endpoint(job["url"], access_key=learner["account"]))
        return CheckContext(lab, factory, solution if learner["solves"] else starter, job["engine"])

    def do_lab(learner: dict) -> float:
        started = time.perf_counter()
        ctx = context(learner)
        checker.setup_fn(ctx)
        if learner["solves"]:
            checker.solve_fn(ctx)
        else:
            ctx.client("sns").create_topic(Name="RideCompleted", Tags=[{"Key": "Project", "Value": "rides"}])
        return time.perf_counter() - started

    def check_and_submit(learner: dict, round_: int) -> tuple[float, float, int]:
        started = time.perf_counter()
        report = grade(lab, checker, context(learner))
        checked = time.perf_counter() - started
        payload = {"v": 1, "kind": "check", "cohort": job["cohort_id"], "learner": learner["account"], "lab": LAB,
                   "at": protocol.iso(time.time()), "nonce": f"bench-{learner['account']}-{round_}",
                   "report": report.to_json(), "progress": {"started_at": None, "hints": {}, "attempts": round_ + 1},
                   "files": {"ride_service.py": ((solution if learner["solves"] else starter) / "ride_service.py").read_text()}}
        document = protocol.signed(payload, learner["token"])
        posted = time.perf_counter()
        status, _ = submit(job["url"], document, timeout=30)
        return checked, time.perf_counter() - posted, status

    with ThreadPoolExecutor(max_workers=job["threads"]) as pool:
        lab_seconds = list(pool.map(do_lab, job["learners"]))
        checks = []
        for round_ in range(job["rounds"]):
            checks += list(pool.map(lambda learner: check_and_submit(learner, round_), job["learners"]))
    return {"lab_seconds": lab_seconds, "check_seconds": [c[0] for c in checks],
            "submit_seconds": [c[1] for c in checks], "statuses": [c[2] for c in checks]}


def _rss_mb(pid: int | None) -> float:
    if not pid:
        return float("nan")
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
    except psutil.Error:
        return float("nan")


def _incomplete_solvers(store, everyone: list[dict]) -> list[str]:
    """Learners who applied the whole solution but did not pass every task centrally, and why."""
    from labkit import catalog
    from labkit.cohort import analysis

    grid = analysis.build(store.snapshot(), {LAB: catalog.get(LAB)}, sources="central")
    solvers = {learner["account"] for learner in everyone if learner["solves"]}
    problems = []
    for row in grid["learners"]:
        if row["account"] in solvers and not row["labs"][LAB]["complete"]:
            failing = [f"{task}: {cell['status']} ({cell['message'][:160]})"
                       for task, cell in row["labs"][LAB]["tasks"].items() if not cell["passed"]]
            problems.append(f"{row['account']}: " + "; ".join(failing))
    return problems


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run(learners: int, rounds: int, engine: str, processes: int, threads: int) -> dict:
    from labkit.cohort.harness import Server, make_cohort
    from labkit.cohort.store import CohortStore

    results: dict = {"learners": learners, "rounds": rounds, "engine": engine, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="lab-bench-cohort-") as tmp:
        home = Path(tmp)
        store, _ = make_cohort(home, learners=learners, engine=engine)
        store = CohortStore(store.folder)
        everyone = [{"account": learner.account_id, "token": learner.token, "solves": index % 10 < 7}
                    for index, learner in enumerate(store.learners())]
        with Server(home, engine=engine) as server:
            results["emulator_rss_idle_mb"] = _rss_mb(server.engine_state().pid)
            jobs = [{"url": server.url, "engine": engine, "cohort_id": store.cohort_id, "rounds": rounds,
                     "threads": threads, "learners": everyone[index::processes]} for index in range(processes)]
            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=processes) as pool:
                parts = list(pool.map(_learner_work, jobs))
            results["learners_phase_seconds"] = time.perf_counter() - started
            merged = {key: [value for part in parts for value in part[key]] for key in parts[0]}
            results["lab_seconds_median"] = statistics.median(merged["lab_seconds"])
            results["learner_check_seconds_median"] = statistics.median(merged["check_seconds"])
            results["submissions"] = len(merged["submit_seconds"])
            results["submissions_stored"] = sum(status in (200, 201) for status in merged["statuses"])
            results["submit_p50_ms"] = 1000 * percentile(merged["submit_seconds"], 0.5)
            results["submit_p95_ms"] = 1000 * percentile(merged["submit_seconds"], 0.95)
            results["emulator_rss_after_learners_mb"] = _rss_mb(server.engine_state().pid)

            started = time.perf_counter()
            graded = subprocess.run([sys.executable, str(REPO / "lab.py"), "cohort", "check", LAB, "--json"],
                                    capture_output=True, text=True, env=server.env(), timeout=600)
            results["grade_process_seconds"] = time.perf_counter() - started
            if graded.returncode != 0:
                raise SystemExit(f"lab cohort check failed: {graded.stderr.strip()}")
            summary = json.loads(graded.stdout)[0]
            results["grade_seconds"] = summary["seconds"]
            results["graded"] = summary["graded"]
            results["graded_complete"] = summary["complete"]
            results["grade_failed"] = len(summary["failed"])
            results["solvers_not_complete"] = _incomplete_solvers(store, everyone)
            results["emulator_rss_mb"] = _rss_mb(server.engine_state().pid)
            results["serve_rss_mb"] = _rss_mb(server.process.pid) - results["emulator_rss_mb"]
    return results


def table(results: dict) -> str:
    n = results["learners"]
    ok = lambda value, target: "ok" if value <= target else "OVER"  # noqa: E731
    rows = [
        ("learners x lab (setup + solve or partial), median per learner", f"{results['lab_seconds_median']:.2f} s", ""),
        (f"learners' own checks: {results['submissions']} ({results['rounds']} rounds), median", f"{results['learner_check_seconds_median']:.2f} s", ""),
        ("submission latency p50 / p95 (while everyone checks)", f"{results['submit_p50_ms']:.0f} / {results['submit_p95_ms']:.0f} ms", ""),
        ("submissions stored", f"{results['submissions_stored']}/{results['submissions']}", ""),
        (f"lab cohort check {LAB}: {n} accounts graded (complete {results['graded_complete']})",
         f"{results['grade_seconds']:.1f} s", f"target < {TARGETS['grade_seconds']:.0f} s: {ok(results['grade_seconds'], TARGETS['grade_seconds'])}"),
        ("  same, whole `lab cohort check` process", f"{results['grade_process_seconds']:.1f} s", ""),
        ("emulator RSS idle -> after learners -> after grading",
         f"{results['emulator_rss_idle_mb']:.0f} -> {results['emulator_rss_after_learners_mb']:.0f} -> {results['emulator_rss_mb']:.0f} MB",
         f"target < 1.5 GB: {ok(results['emulator_rss_mb'], TARGETS['emulator_rss_mb'])}"),
        ("lab cohort serve RSS (gateway, collector, dashboard)", f"{results['serve_rss_mb']:.0f} MB", ""),
    ]
    width = max(len(row[0]) for row in rows)
    head = f"Cohort load: {n} learners on one shared {results['engine']} emulator, {results['cores']} cores"
    return "\n".join([head, "-" * len(head), *(f"{a:<{width}}  {b:>20}  {c}" for a, b, c in rows)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cohort", description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="checks per learner before the central grading")
    parser.add_argument("--engine", choices=["ministack", "moto"], default="ministack")
    parser.add_argument("--processes", type=int, default=2, help="processes simulating learners")
    parser.add_argument("--threads", type=int, default=8, help="threads per learner process")
    parser.add_argument("--quick", action="store_true", help="20 learners, 1 round (CI)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.learners, args.rounds = 20, 1
    results = run(args.learners, args.rounds, args.engine, args.processes, args.threads)
    print(table(results))
    for problem in results["solvers_not_complete"][:5]:
        print(f"  solved but not complete: {problem}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
