"""`python -m benchmarks [--quick] [--engines ministack,moto] [--json FILE]`

Measures what a learner waits for, through the real `lab` command in
subprocesses, in a throw-away LAB_HOME on a free port:

- CLI start-up (`lab --help`);
- cold `lab start sns-fanout` (no emulator running) until the tasks are shown,
  and warm start (emulator already up);
- `lab check` per lab on the solved lab: wall time inside `lab`, the sum of the
  raw API round trips it made, and their ratio (the grader's overhead);
- emulator memory (RSS of the process tree) after the checks;
- progress writes per second (SQLite, one attempt per transaction).

It prints a table and asserts nothing: targets live in the README.
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
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
TARGETS = {
    "lab --help": 0.3,
    "cold lab start sns-fanout": 2.0,
    "check sns-fanout": 1.0,
}


def lab(*args: str, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "lab.py"), *args], capture_output=True, text=True,
                            env=env, timeout=300)
    return time.perf_counter() - started, result


def must(result: subprocess.CompletedProcess, *ok_codes: int) -> subprocess.CompletedProcess:
    if result.returncode not in (ok_codes or (0,)):
        raise SystemExit(f"benchmark step failed ({result.args[2:]}): {result.stderr.strip() or result.stdout[-400:]}")
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


engines_with_watch = ["ministack"]


def measure_watch(env: dict, idle_seconds: float) -> list[tuple[str, float, str]]:
    """`lab watch` on a fresh sns-fanout: CPU while nothing changes, then change-to-green time."""
    import queue
    import re
    import threading

    import boto3

    must(lab("reset", "sns-fanout", "--yes", env=env)[1])
    must(lab("start", "sns-fanout", env=env)[1])
    state = json.loads((Path(env["LAB_HOME"]) / "emulator.json").read_text())
    watcher = subprocess.Popen([sys.executable, str(REPO / "lab.py"), "watch", "sns-fanout"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()

    def passed_count(timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = re.search(r"checked: (\d+)/\d+ tasks pass", lines.get(timeout=0.2))
            except queue.Empty:
                continue
            if found:
                return int(found.group(1))
        raise SystemExit("benchmark step failed: `lab watch` printed no grading in time")

    try:
        before = passed_count(30)
        process, emulator_process = psutil.Process(watcher.pid), psutil.Process(state["pid"])
        process.cpu_percent(), emulator_process.cpu_percent()
        time.sleep(idle_seconds)
        idle_cpu, emulator_cpu = process.cpu_percent(), emulator_process.cpu_percent()
        sns = boto3.client("sns", endpoint_url=state["url"], region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        changed = time.perf_counter()
        sns.create_topic(Name="RideCompleted", Tags=[{"Key": "Project", "Value": "rides"}])
        while passed_count(30) <= before:
            pass
        latency = time.perf_counter() - changed
    finally:
        watcher.terminate()
        watcher.wait(10)
    return [
        ("watch idle CPU", idle_cpu, f"% of one core over {idle_seconds:g} s (emulator meanwhile: {emulator_cpu:.1f} %)"),
        ("watch change-to-green", latency, "s from create-topic to the task shown passing"),
    ]


def measure_engine(engine: str, repeats: int, labs: list[str]) -> list[tuple[str, float, str]]:
    from labkit.backends import free_port

    rows = []
    with tempfile.TemporaryDirectory(prefix=f"lab-bench-{engine}-") as home:
        env = {**os.environ, "LAB_HOME": home, "NO_COLOR": "1", "COLUMNS": "200"}
        port = str(free_port())
        try:
            cold, result = lab("start", "sns-fanout", "--backend", engine, "--port", port, env=env)
            must(result)
            rows.append((f"cold lab start sns-fanout [{engine}]", cold, "s, process start to tasks shown"))
            warm = [must_time(lab("start", "sns-fanout", "--backend", engine, env=env)) for _ in range(repeats)]
            rows.append((f"warm lab start sns-fanout [{engine}]", median(warm), f"s, median of {repeats}"))
            for lab_id in labs:
                must(lab("start", lab_id, "--backend", engine, env=env)[1])
                must(lab("solve", lab_id, env=env)[1])
                walls, apis, wires, processes = [], [], [], []
                for _ in range(repeats):
                    elapsed, result = lab("check", lab_id, "--json", env=env)
                    timing = json.loads(must(result, 0, 1).stdout)["timing"]
                    walls.append(timing["wall_seconds"])
                    apis.append(timing["api_seconds"])
                    wires.append(timing["wire_seconds"])
                    processes.append(elapsed)
                wall, api = median(walls), median(apis)
                rows.append((f"check {lab_id} [{engine}]", wall, f"s inside lab; whole process {median(processes):.2f} s"))
                rows.append((f"  raw API time [{engine}]", api,
                             f"s in client calls ({median(wires):.3f} s on the wire); wall/API = {wall / api:.2f}x"))
            if engine == engines_with_watch[0]:
                rows.extend(measure_watch(env, idle_seconds=5 if repeats == 1 else 15))
            state = json.loads((Path(home) / "emulator.json").read_text())
            process = psutil.Process(state["pid"])
            rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
            rows.append((f"emulator RSS [{engine}]", rss / 2**20, "MiB after the checks"))
        finally:
            lab("stop", env=env)
    return rows


def must_time(pair) -> float:
    elapsed, result = pair
    must(result)
    return elapsed


def progress_writes_per_second(count: int) -> float:
    from labkit.grading import LabReport, TaskResult
    from labkit.progress import ProgressStore

    with tempfile.TemporaryDirectory() as folder:
        store = ProgressStore(Path(folder) / "progress.db")
        report = LabReport("bench", "Bench", "ministack",
                           [TaskResult(f"t{i}", f"Task {i}", "pass", "ok", 1.0) for i in range(7)])
        started = time.perf_counter()
        for _ in range(count):
            store.record_attempt(report, [f"t{i}" for i in range(7)])
        return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, default engine only (CI)")
    parser.add_argument("--engines", default=None, help="comma-separated: ministack,moto")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 5
    engines = (args.engines or ("ministack" if args.quick else "ministack,moto")).split(",")
    sys.path.insert(0, str(REPO))
    from labkit import catalog

    labs = catalog.lab_ids()
    rows = [("lab --help", median([must_time(lab("--help", env=dict(os.environ))) for _ in range(repeats)]),
             f"s, median of {repeats}")]
    for engine in engines:
        rows.extend(measure_engine(engine, repeats, labs))
    rows.append(("progress writes", progress_writes_per_second(50 if args.quick else 300), "attempts/s (7 tasks each)"))

    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>9}  unit / note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9.3f}  {note}")
    print("targets: " + ", ".join(f"{name} < {limit} s" for name, limit in TARGETS.items()))
    if args.json:
        Path(args.json).write_text(json.dumps([{"measure": n, "value": v, "note": t} for n, v, t in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
