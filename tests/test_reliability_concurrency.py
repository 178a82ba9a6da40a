"""Several `lab check` processes at once on the same lab: all finish, their results agree, and
no check's probes disturb another's (probes carry each run's id, and are cleaned up).

Each lab is solved, the learner's own data is put in place (messages in the sns-fanout
queues), then N real `lab check --json` processes start together. Afterwards everything a
learner can see (queues and their message counts, buckets and their objects, tables and
their item counts, subscriptions) is as before, and progress holds N sound attempts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from labkit import session
from labkit.progress import ProgressStore
from tests.conftest import REPO
from tests.faults import record_figure
from tests.labtools import context, start


def visible_state(ctx) -> dict:
    """What a learner can see in the emulator, counters included."""
    sqs, s3, ddb, sns = ctx.client("sqs"), ctx.client("s3"), ctx.client("dynamodb"), ctx.client("sns")
    queues = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        queues[url.rsplit("/", 1)[-1]] = (attributes["ApproximateNumberOfMessages"],
                                          attributes["ApproximateNumberOfMessagesNotVisible"])
    buckets = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])]
        buckets[bucket["Name"]] = sorted(keys)
    tables = {name: ddb.scan(TableName=name, Select="COUNT")["Count"] for name in ddb.list_tables()["TableNames"]}
    subscriptions = sorted(s["Endpoint"] for s in sns.list_subscriptions().get("Subscriptions", []))
    return {"queues": queues, "buckets": buckets, "tables": tables, "subscriptions": subscriptions}


def learner_data(lab_id: str, ctx) -> None:
    if lab_id == "sns-fanout":
        sqs = ctx.client("sqs")
        for name in ("customer-notification", "customer-accounting", "extraordinary-rides"):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"learner": name, "n": n})} for n in range(5)])


def checks_at_once(lab_id: str, count: int) -> tuple[list[dict], float, list[int]]:
    env = {**os.environ, "NO_COLOR": "1"}
    started = time.monotonic()
    processes = [subprocess.Popen([sys.executable, str(REPO / "lab.py"), "check", lab_id, "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(count)]
    outputs = [process.communicate(timeout=300) for process in processes]
    wall = time.monotonic() - started
    for process, (_, err) in zip(processes, outputs):
        assert "Traceback" not in err, err
    return [json.loads(out) for out, _ in outputs], wall, [p.returncode for p in processes]


def verdicts(document: dict) -> list[tuple[str, str, str]]:
    return [(t["id"], t["status"], re.sub(r"chk-[0-9a-f]{10}", "chk-…", t["message"])) for t in document["tasks"]]


def run_concurrently(lab_home, lab_id: str, count: int) -> float:
    start(lab_id, lab_home)
    session.solve_lab(lab_id)
    ctx = context(lab_id)
    learner_data(lab_id, ctx)
    before = visible_state(ctx)
    attempts_before = ProgressStore().attempt_count(lab_id)
    documents, wall, codes = checks_at_once(lab_id, count)
    assert codes == [0] * count, [verdicts(d) for d, c in zip(documents, codes) if c]
    assert all(verdicts(d) == verdicts(documents[0]) for d in documents)
    time.sleep(0.2)
    assert visible_state(ctx) == before
    store = ProgressStore()
    assert store.attempt_count(lab_id) == attempts_before + count
    assert store.integrity_problems() == []
    return wall


def test_two_checks_at_once_agree_and_leave_no_trace(lab_home):
    wall = run_concurrently(lab_home, "sns-fanout", 2)
    record_figure(f"concurrent_2_sns-fanout_{lab_home.engine}_wall_s", round(wall, 2))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
@pytest.mark.parametrize("lab_id", ["dynamodb-gsi", "sqs-scaling"])
def test_three_checks_at_once_on_the_other_labs(lab_home, lab_id):
    wall = run_concurrently(lab_home, lab_id, 3)
    record_figure(f"concurrent_3_{lab_id}_ministack_wall_s", round(wall, 2))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
@pytest.mark.parametrize("lab_id", ["sns-fanout", "s3-security"])
def test_ten_checks_at_once_agree_and_leave_no_trace(lab_home, lab_id):
    """sns-fanout: every check's probe rides reach every queue, its tap sees the others' too;
    s3-security: every check seeds public/private probe buckets the learner's audit lists."""
    wall = run_concurrently(lab_home, lab_id, 10)
    record_figure(f"concurrent_10_{lab_id}_ministack_wall_s", round(wall, 2))
