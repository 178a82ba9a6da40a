"""`lab watch` in a real pseudo-terminal: it turns tasks green as the learner works."""

from __future__ import annotations

import json
import os
import sys
import time

import pexpect
import pytest

from labkit import session
from tests.conftest import REPO, run_lab
from tests.labtools import context, start

pytestmark = pytest.mark.parametrize("engine", ["ministack"], indirect=True)


def spawn_watch(*args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable, [str(REPO / "lab.py"), "watch", *args],
        env={**os.environ, "COLUMNS": "140", "LINES": "40", "TERM": "xterm"},
        encoding="utf-8", timeout=15,
    )


def test_a_change_made_with_boto3_turns_the_task_green_within_two_seconds(lab_home):
    start("sns-fanout", lab_home)
    watch = spawn_watch()
    try:
        watch.expect("1/7 tasks pass")
        changed = time.monotonic()
        context("sns-fanout").client("sns").create_topic(
            Name="RideCompleted", Tags=[{"Key": "Project", "Value": "rides"}])
        watch.expect("2/7 tasks pass", timeout=2.5)
        assert time.monotonic() - changed < 2.5
        watch.send("h")
        watch.expect("Hint 1/4 for notification-subscriber")
        watch.send("h")
        watch.expect("Hint 2/4 for notification-subscriber")
        watch.sendintr()
        watch.expect(pexpect.EOF)
    finally:
        watch.close()
    assert watch.exitstatus == 0
    status = json.loads(run_lab("status", "--json").stdout)
    assert status["labs"][0]["hints_used"] == 2


def test_completion_shows_the_message_and_exits_zero(lab_home):
    start("sns-fanout", lab_home)
    watch = spawn_watch()
    try:
        watch.expect("1/7 tasks pass")
        session.solve_lab("sns-fanout")
        watch.expect("lab complete!", timeout=5)
        watch.expect(pexpect.EOF)
    finally:
        watch.close()
    assert watch.exitstatus == 0


def test_q_quits_cleanly(lab_home):
    start("sns-fanout", lab_home)
    watch = spawn_watch()
    try:
        watch.expect("1/7 tasks pass")
        watch.send("q")
        watch.expect("Stopped watching")
        watch.expect(pexpect.EOF)
    finally:
        watch.close()
    assert watch.exitstatus == 0


def test_without_a_terminal_watch_prints_plain_lines(lab_home):
    start("sns-fanout", lab_home)
    session.solve_lab("sns-fanout")
    result = run_lab("watch", env={"NO_COLOR": "1"})
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout
    assert "PASS  create-topic: Standard topic RideCompleted exists" in result.stdout
    assert "All 7 tasks of sns-fanout pass: lab complete!" in result.stdout
