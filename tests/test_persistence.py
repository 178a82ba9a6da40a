"""The learner's work survives `lab stop`/`lab start`, and even a crash of the default engine."""

from __future__ import annotations

import time

import psutil
import pytest

from labkit import emulator, session
from labkit.backends.ministack_main import SNAPSHOT_SETTLE, is_read
from labkit.progress import ProgressStore
from tests.labtools import check, context, start

ministack_only = pytest.mark.parametrize("engine", ["ministack"], indirect=True)


def topics():
    return [t["TopicArn"].split(":")[-1] for t in context("sns-fanout").client("sns").list_topics()["Topics"]]


def restart_on_same_port(lab_home, kill: bool):
    state = emulator.current_state()
    if kill:
        process = psutil.Process(state.pid)
        process.kill()
        process.wait(10)
    else:
        emulator.stop()
    session.start_lab("sns-fanout", backend="ministack", port=state.port)


@ministack_only
def test_stop_and_start_keep_resources_and_progress(lab_home):
    start("sns-fanout", lab_home)
    session.solve_lab("sns-fanout")
    assert check("sns-fanout").all_passed
    restart_on_same_port(lab_home, kill=False)
    assert "RideCompleted" in topics()
    assert check("sns-fanout").all_passed
    progress = ProgressStore().lab_progress("sns-fanout")
    assert progress.attempts == 2 and progress.completed_at


@ministack_only
def test_a_killed_emulator_keeps_what_was_done_a_moment_before(lab_home):
    start("sns-fanout", lab_home)
    context("sns-fanout").client("sns").create_topic(Name="RideCompleted")
    time.sleep(SNAPSHOT_SETTLE * 2)
    restart_on_same_port(lab_home, kill=True)
    assert "RideCompleted" in topics()


def test_reads_do_not_count_as_changes():
    assert is_read("ListTopics") and is_read("DescribeTable") and is_read("GetQueueAttributes")
    assert not is_read("CreateTopic") and not is_read("SetSubscriptionAttributes") and not is_read("Publish")
