"""Faults: the emulator dies mid-check, answers slowly, or a check outlives its time limit.

A TCP proxy (tests/faults.py) sits between `lab` and the session's emulator: it
adds latency or dies on cue, so the real CLI meets a slow or crashing emulator
without the emulator being touched. What must hold:

- a check that loses the emulator ends as `error` with one sentence, the tasks
  after it are "not run" errors (never failures), `lab check` exits 3 and the
  attempt is not recorded (progress stays as it was, and consistent);
- on a slow emulator every task is `pass` or `error: timed out after N s`, never
  a false `fail`, and the probes of checks that timed out are cleaned up;
- the probes a killed check left behind are swept by the next check.
"""

from __future__ import annotations

import json
import os
import threading
import time

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from checkers import sns_fanout
from checkers._support import sqs as sqs_support
from labkit import emulator, session
from labkit.aws import ClientFactory, Endpoint, learner_code_environment
from labkit.checks import CheckContext, Checker
from labkit.grading import grade
from labkit.progress import ProgressStore
from tests.conftest import run_lab
from tests.faults import proxied, record_figure
from tests.labtools import context, start
from tests.test_grading import make_lab

LAB = "sns-fanout"
ministack_only = pytest.mark.parametrize("engine", ["ministack"], indirect=True)


def solved(lab_home):
    start(LAB, lab_home)
    session.solve_lab(LAB)
    return context(LAB)


def learner_queue_counts(ctx) -> dict[str, tuple[str, str]]:
    sqs = ctx.client("sqs")
    counts = {}
    for name in (*sns_fanout.SUBSCRIBER_QUEUES, sns_fanout.DLQ):
        attributes = sqs.get_queue_attributes(
            QueueUrl=sqs_support.queue_url(sqs, name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        counts[name] = (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"])
    return counts


def traces(ctx) -> dict:
    """What a check could leave behind: probe queues and extra subscriptions."""
    sqs, sns = ctx.client("sqs"), ctx.client("sns")
    return {
        "probe_queues": sorted(u for u in sqs.list_queues().get("QueueUrls", []) if "lab-probe-" in u),
        "subscriptions": sorted(s["Endpoint"] for s in sns_fanout._all_subscriptions(sns)),
    }


def put_learner_messages(ctx) -> None:
    sqs = ctx.client("sqs")
    for name in sns_fanout.SUBSCRIBER_QUEUES:
        sqs.send_message(QueueUrl=sqs_support.queue_url(sqs, name), MessageBody=json.dumps({"learner": name}))


# -- the emulator dies mid-check ---------------------------------------------------------------
@ministack_only
@pytest.mark.parametrize("cut_after", [6, 40])
def test_an_emulator_that_dies_mid_check_is_an_error_with_exit_3_and_no_recorded_attempt(lab_home, cut_after,
                                                                                         monkeypatch):
    ctx = solved(lab_home)
    clean = traces(ctx)
    first = session.check_lab(LAB)  # a good attempt on record before the crash
    assert first.all_passed, [(t.id, t.message) for t in first.tasks]
    store = ProgressStore()
    before = store.lab_progress(LAB)

    with proxied(lab_home) as proxy:
        proxy.cut_after(cut_after)  # ~the n-th request of the check (6: configuration reads, 40: in the probe)
        result = run_lab("check", "--json")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    tasks = json.loads(result.stdout)["tasks"]
    statuses = [task["status"] for task in tasks]
    assert "fail" not in statuses, tasks  # nothing is blamed on the learner
    lost = [i for i, task in enumerate(tasks) if task["status"] == "error"]
    assert lost, tasks
    first_lost = tasks[lost[0]]["message"]
    assert first_lost.startswith("the emulator stopped answering during this check"), first_lost
    assert len(first_lost.split(". ")) == 1  # one sentence
    assert all(task["message"] == "not run: the emulator stopped answering earlier in this check"
               for task in tasks[lost[0] + 1:]), tasks
    assert all(status == "pass" for status in statuses[:lost[0]])

    after = ProgressStore().lab_progress(LAB)  # not recorded: the attempt says nothing about the learner
    assert after.attempts == before.attempts == 1
    assert after.last_results == before.last_results and after.first_passes == before.first_passes
    assert store.integrity_problems() == []
    # A probe cut off mid-way cannot clean up after itself; the next check (once the emulator is
    # back) sweeps what it left, when it is over a minute old.
    monkeypatch.setattr(sqs_support, "STALE_PROBE_SECONDS", -1.0)
    assert session.check_lab(LAB, record=False).all_passed
    assert traces(ctx) == clean


@ministack_only
def test_the_human_report_of_a_lost_emulator_names_the_fix(lab_home):
    solved(lab_home)
    with proxied(lab_home) as proxy:
        proxy.cut_after(8)
        result = run_lab("check")
    assert result.returncode == 3
    assert "The emulator stopped answering during the check. Fix: lab start sns-fanout" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _lost_learner_checker():
    checker = Checker("grading-demo")

    def dead_call():
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    for task in ("passes", "fails", "crashes", "hangs", "after"):
        checker.task(task)(lambda ctx: ctx.call_learner(dead_call))
    return checker


def test_learner_code_that_loses_a_dead_emulator_is_the_emulators_error_not_a_fail(tmp_path):
    lab = make_lab(tmp_path)
    ctx = CheckContext(lab, ClientFactory(Endpoint("http://127.0.0.1:9")), tmp_path, "ministack")
    report = grade(lab, _lost_learner_checker(), ctx, timeout=5)
    assert report.emulator_lost
    assert [t.status for t in report.tasks] == ["error"] * 5
    assert "the emulator stopped answering during this check" in report.tasks[0].message


@ministack_only
def test_learner_code_pointed_at_a_wrong_port_still_fails_as_the_learners_mistake(lab_home, tmp_path):
    lab = make_lab(tmp_path)
    ctx = CheckContext(lab, ClientFactory(lab_home.state.endpoint()), tmp_path, "ministack")  # the emulator answers
    report = grade(lab, _lost_learner_checker(), ctx, timeout=5, only="passes")
    assert not report.emulator_lost
    assert report.tasks[0].status == "fail"
    assert "dead_call() raised EndpointConnectionError" in report.tasks[0].message


# -- a slow emulator -----------------------------------------------------------------------------
@ministack_only
def test_a_slow_emulator_gives_timeouts_never_false_fails_and_no_leftover_probes(lab_home):
    ctx = solved(lab_home)
    put_learner_messages(ctx)
    before_counts, before_traces = learner_queue_counts(ctx), traces(ctx)
    timeout = 1.5
    with proxied(lab_home, delay=0.04):  # every request waits ~0.04-0.08 s: a full check needs ~4 s
        started = time.monotonic()
        result = run_lab("check", "--json", "--timeout", str(timeout))
        wall = time.monotonic() - started
    assert result.returncode in (0, 1), result.stderr
    tasks = json.loads(result.stdout)["tasks"]
    verdicts = {(t["status"], t["message"] if t["status"] == "error" else "") for t in tasks}
    assert verdicts <= {("pass", ""), ("error", f"timed out after {timeout:g} s")}, tasks
    assert ("error", f"timed out after {timeout:g} s") in verdicts, "the delay did not slow the check down"
    # Each task waits at most its timeout; timed-out checks get one more timeout to clean up.
    assert wall < len(tasks) * timeout + timeout + 5, wall
    record_figure("slow_emulator", {"delay_per_chunk_s": 0.04, "timeout_s": timeout, "wall_s": round(wall, 2),
                                    "tasks": {t["id"]: t["status"] for t in tasks}})
    time.sleep(0.3)
    assert traces(ctx) == before_traces
    assert learner_queue_counts(ctx) == before_counts


def test_a_timed_out_fixture_is_awaited_not_run_twice(tmp_path):
    """A task that times out while computing a shared probe leaves it running; the next task
    waits for that result instead of starting the same probe (same run id) a second time."""
    lab = make_lab(tmp_path)
    calls = []
    checker = Checker("grading-demo")

    def slow_probe(ctx):
        calls.append(ctx.run_id)
        time.sleep(0.8)
        return "probed"

    for task in ("passes", "fails", "crashes", "hangs", "after"):
        checker.task(task)(lambda ctx: ctx.fixture(slow_probe))
    ctx = CheckContext(lab, ClientFactory(Endpoint("http://127.0.0.1:9")), tmp_path, "ministack")
    report = grade(lab, checker, ctx, timeout=0.5)
    assert len(calls) == 1
    assert [t.status for t in report.tasks] == ["error", "pass", "pass", "pass", "pass"]


def test_learner_code_in_two_threads_keeps_the_emulator_environment_until_both_return(monkeypatch):
    """A check that timed out may still be running learner code when the next task runs some:
    the first to return must not hand the process its real AWS environment back."""
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "https://sns.us-east-1.amazonaws.com")
    factory = ClientFactory(Endpoint("http://127.0.0.1:9"))
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with learner_code_environment(factory):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with learner_code_environment(factory):
            second_in.set()
            first_out.wait(5)
            seen["profile"] = os.environ.get("AWS_PROFILE")
            seen["endpoint"] = boto3.session.Session().client("sns").meta.endpoint_url
            seen["default"] = boto3.client("sns").meta.endpoint_url

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"profile": None, "endpoint": "http://127.0.0.1:9", "default": "http://127.0.0.1:9"}
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["AWS_ENDPOINT_URL_SNS"] == "https://sns.us-east-1.amazonaws.com"
    assert boto3.DEFAULT_SESSION is not factory.learner_session()


# -- what an interrupted check leaves behind ------------------------------------------------------
@pytest.mark.parametrize("engine", ["ministack", "moto"], indirect=True)
def test_the_next_check_sweeps_the_probes_of_a_killed_check(lab_home, monkeypatch):
    ctx = solved(lab_home)
    sqs, sns = ctx.client("sqs"), ctx.client("sns")
    before = traces(ctx)
    # What a check killed mid-probe leaves: its tap queue, subscribed to the topic, and
    # probe rides in the learner's queues.
    setup = sns_fanout.read_setup(ctx)
    dead_run = "chk-dead00beef"
    tap = sqs.create_queue(QueueName=f"lab-probe-{dead_run}")["QueueUrl"]
    sns.subscribe(TopicArn=setup.topic_arn, Protocol="sqs", Endpoint=sqs_support.queue_arn(sqs, tap),
                  Attributes={"RawMessageDelivery": "true"})
    sns_fanout.publish_direct(sns, setup.topic_arn, {**sns_fanout.probe_ride(ctx, "d", 80), "rideId": f"{dead_run}-d80"})
    put_learner_messages(ctx)
    monkeypatch.setattr(sqs_support, "STALE_PROBE_SECONDS", -1.0)  # "over a minute ago", without the wait
    report = session.check_lab(LAB, record=False)
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert traces(ctx) == before
    leftovers = {name: [m["Body"] for m in sqs.receive_message(QueueUrl=setup.queue_urls[name],
                                                               MaxNumberOfMessages=10).get("Messages", [])]
                 for name in sns_fanout.SUBSCRIBER_QUEUES}
    assert leftovers == {name: [json.dumps({"learner": name})] for name in sns_fanout.SUBSCRIBER_QUEUES}


@ministack_only
def test_a_live_concurrent_probe_is_not_swept(lab_home):
    ctx = solved(lab_home)
    sqs = ctx.client("sqs")
    young = sqs.create_queue(QueueName="lab-probe-chk-0123456789")["QueueUrl"]  # another check, just started
    assert sqs_support.stale_probe_queues(sqs, ctx.run_id) == []
    session.check_lab(LAB, record=False)
    assert young in sqs.list_queues(QueueNamePrefix="lab-probe-").get("QueueUrls", [])
    sqs.delete_queue(QueueUrl=young)


# -- PID files and ports (tests/test_cli_errors.py has the reused PID and the squatted port) -------
def test_a_port_held_by_an_emulator_lab_did_not_start_offers_endpoint(empty_home):
    import http.server

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = b'{"services": {"sqs": "running"}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        result = run_lab("start", LAB, "--backend", "ministack", "--port", str(port))
    finally:
        server.shutdown()
    assert result.returncode == 3, result.stderr
    assert f"Port {port} is in use by an AWS emulator that `lab` did not start" in result.stderr
    assert f"--endpoint http://127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert emulator.current_state() is None


def test_a_recorded_pid_that_now_belongs_to_another_program_is_not_running_and_survives(empty_home):
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        created = __import__("psutil").Process(other.pid).create_time()
        emulator._save(emulator.EmulatorState(backend="ministack", url="http://127.0.0.1:9", port=9,
                                              pid=other.pid, pid_created=created - 500))
        status = run_lab("status", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["emulator"]["running"] is False
        check = run_lab("check", LAB)
        assert check.returncode == 3 and "is not answering" in check.stderr
        assert run_lab("stop").returncode == 0
        assert other.poll() is None  # still running: not ours to kill
    finally:
        other.kill()
        other.wait()


@ministack_only
def test_the_next_check_sweeps_the_probe_buckets_and_objects_of_a_killed_s3_check(lab_home, monkeypatch):
    from checkers import s3_security

    start("s3-security", lab_home)
    session.solve_lab("s3-security")
    s3 = context("s3-security").client("s3")
    before = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    s3.create_bucket(Bucket="lab-probe-chk-dead00beef-public")
    s3.put_object(Bucket=s3_security.RIDES, Key="lab-probe/chk-dead00beef.txt", Body=b"probe")
    monkeypatch.setattr(sqs_support, "STALE_PROBE_SECONDS", -1.0)
    report = session.check_lab("s3-security", record=False)
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == before
    assert s3.list_objects_v2(Bucket=s3_security.RIDES, Prefix="lab-probe/").get("KeyCount", 0) == 0
