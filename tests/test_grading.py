"""Grading: one verdict per task; a crashing or hanging check harms only its own task."""

from __future__ import annotations

import textwrap
import time

from botocore.exceptions import EndpointConnectionError

from labkit import catalog
from labkit.aws import ClientFactory, Endpoint
from labkit.checks import CheckContext, Checker, Fail
from labkit.grading import grade

LAB_YAML = """
id: grading-demo
title: Demonstrate grading
summary: Tasks whose checks pass, fail, crash and hang.
services: [sqs]
minutes: 1
achievement: Demonstrated grading
references: [{label: Docs, url: "https://docs.aws.amazon.com/"}]
tasks:
  - {id: passes, title: Pass this task, hints: [a, b], points: 2}
  - {id: fails, title: Fail this task, hints: [a, b]}
  - {id: crashes, title: Crash this check, hints: [a, b]}
  - {id: hangs, title: Hang this check, hints: [a, b]}
  - {id: after, title: Run after the others, hints: [a, b], points: 0.5}
"""


def make_lab(tmp_path):
    folder = tmp_path / "labs" / "grading-demo"
    folder.mkdir(parents=True)
    (folder / "lab.yaml").write_text(textwrap.dedent(LAB_YAML))
    return catalog.load_lab(folder)


def demo_checker(shared_calls):
    checker = Checker("grading-demo")

    def fixture(ctx):
        shared_calls.append(1)
        return "probe result"

    @checker.task("passes")
    def passes(ctx):
        return f"found the {ctx.fixture(fixture)}"

    @checker.task("fails")
    def fails(ctx):
        ctx.fixture(fixture)
        raise Fail("found 2 queues, expected 3")

    @checker.task("crashes")
    def crashes(ctx):
        return {}["missing"]

    @checker.task("hangs")
    def hangs(ctx):
        time.sleep(5)

    @checker.task("after")
    def after(ctx):
        return "still ran"

    return checker


def context(lab, tmp_path):
    return CheckContext(lab, ClientFactory(Endpoint("http://127.0.0.1:9")), tmp_path, "ministack")


def test_each_task_gets_its_own_verdict_and_the_others_still_run(tmp_path):
    lab = make_lab(tmp_path)
    calls = []
    report = grade(lab, demo_checker(calls), context(lab, tmp_path), timeout=0.5)
    verdicts = {task.id: (task.status, task.message) for task in report.tasks}
    assert verdicts["passes"] == ("pass", "found the probe result")
    assert verdicts["fails"] == ("fail", "found 2 queues, expected 3")
    assert verdicts["crashes"][0] == "error"
    assert "the check itself crashed: KeyError" in verdicts["crashes"][1]
    assert verdicts["hangs"] == ("error", "timed out after 0.5 s")
    assert verdicts["after"] == ("pass", "still ran")
    assert calls == [1]  # a fixture is computed once per run and shared
    assert (report.passed, report.total, report.score, report.max_score) == (2, 5, 2.5, 5.5)
    assert not report.all_passed


def test_the_json_document_follows_the_schema(tmp_path):
    lab = make_lab(tmp_path)
    report = grade(lab, demo_checker([]), context(lab, tmp_path), timeout=0.5)
    document = report.to_json()
    assert set(document) >= {"lab", "passed", "total", "score", "tasks"}
    assert document["lab"] == "grading-demo"
    for task in document["tasks"]:
        assert set(task) == {"id", "title", "status", "message"}
        assert task["status"] in ("pass", "fail", "error")


def test_an_emulator_that_disappears_mid_check_is_an_error_not_a_fail(tmp_path):
    lab = make_lab(tmp_path)
    checker = demo_checker([])

    @checker.task("fails")
    def emulator_gone(ctx):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    report = grade(lab, checker, context(lab, tmp_path), timeout=0.5)
    statuses = {task.id: task.status for task in report.tasks}
    assert report.emulator_lost
    assert statuses["passes"] == "pass"
    assert statuses["fails"] == "error"
    assert statuses["after"] == "error"  # not run, and not marked failed
    assert "emulator stopped answering" in report.tasks[-1].message


def test_a_task_its_backend_cannot_host_is_reported_not_run(tmp_path):
    lab = make_lab(tmp_path)
    lab.spec.tasks[0].not_on = {"ministack": "no autoscaling service"}
    report = grade(lab, demo_checker([]), context(lab, tmp_path), timeout=0.5, only="passes")
    assert [(t.status, t.message) for t in report.tasks] == [
        ("error", "the ministack backend cannot host this task (no autoscaling service); it runs on moto or localstack")]
