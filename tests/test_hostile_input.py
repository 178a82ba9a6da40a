"""Huge, hostile and odd input: checks finish, judge correctly, change nothing, and every
command answers with a sentence rather than a traceback.

- a 256 KB message, hostile message bodies and 10 000 messages in the learner's queues;
- a bucket policy at S3's 20 KB size limit;
- unicode in names, tags, items and LAB_HOME;
- lab.yaml, emulator.json and progress.db with unexpected types or bytes;
- real-looking credentials, AWS_PROFILE, per-service endpoint variables and a config file
  in the environment, and --endpoint on another machine: nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time

import pytest

from checkers import sns_fanout
from checkers._support.sqs import decode, queue_url
from labkit import catalog, emulator, session
from labkit.errors import LabFormatError
from tests.conftest import run_lab
from tests.faults import record_figure
from tests.labtools import context, message, start, statuses
from tests.test_lab_sns_fanout import queue_contents

LAB = "sns-fanout"
ministack_only = pytest.mark.parametrize("engine", ["ministack"], indirect=True)


@pytest.fixture
def solved(lab_home):
    start(LAB, lab_home)
    session.solve_lab(LAB)
    return context(LAB)


def depth(ctx, name: str) -> tuple[str, str]:
    sqs = ctx.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url(sqs, name), AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]


# -- messages -----------------------------------------------------------------------------------
HOSTILE_BODIES = [
    "x" * (256 * 1024 - 1),  # SQS's largest message
    "[" * 200_000,  # deeper than json can parse: RecursionError
    json.dumps({"Type": "Notification", "Message": "[" * 50_000}),
    json.dumps({"Type": "Notification", "Message": 5}),
    json.dumps({"rideId": None, "fare": "NaN"}),
    json.dumps({"rideId": "chk-"}),  # looks like some check's probe: handed back, not deleted
    json.dumps({"rideId": ["chk-0123456789-d80"]}),
    json.dumps({"rideId": "chk-0123456789-d80", "fare": 1e308}),
    "null", "1e999999", "\u2028\u2029 \U0001F695 \ufffd ride",
]


def test_huge_and_hostile_messages_in_the_learners_queues_are_read_past_and_left_as_they_were(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    url = queue_url(sqs, "customer-notification")
    for body in HOSTILE_BODIES:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    before = queue_contents(ctx)
    report = session.check_lab(LAB, record=False)
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert queue_contents(ctx) == before


@pytest.mark.parametrize("body", HOSTILE_BODIES[1:4])
def test_decode_never_raises_on_a_hostile_body(body):
    assert decode({"Body": body}, "rideId") is None


@pytest.mark.slow
@ministack_only
def test_ten_thousand_learner_messages(solved):
    """Up to 2 000 waiting messages the probe reads past them all and grades; beyond that it
    publishes nothing and says why (ministack's receive scans the whole queue, so reading past
    10 000 would outlast a task's time limit). Either way the messages are left as they were."""
    ctx = solved
    sqs = ctx.client("sqs")
    url = queue_url(sqs, "customer-notification")

    def send(count: int, offset: int) -> None:
        for first in range(offset, offset + count, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"learner": first + n})} for n in range(10)])

    send(1990, 0)
    started = time.monotonic()
    report = session.check_lab(LAB, record=False)
    readable = time.monotonic() - started
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert depth(ctx, "customer-notification") == ("1990", "0")

    send(8010, 1990)
    started = time.monotonic()
    report = session.check_lab(LAB, record=False)
    too_many = time.monotonic() - started
    assert "fail" not in statuses(report).values()
    probed = ("notification-subscriber", "accounting-subscriber", "extraordinary-subscriber", "publisher",
              "validate-fanout")
    for task in probed:
        assert statuses(report)[task] == "error"
        assert message(report, task).startswith("Your queues hold 10000 messages (customer-notification 10000): "
                                                "more than the 2000 the check can read past")
    assert depth(ctx, "customer-notification") == ("10000", "0")
    assert too_many < 5
    record_figure("ten_thousand_messages_ministack", {"check_s_1990_messages": round(readable, 2),
                                                      "check_s_10000_messages": round(too_many, 2)})


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["moto"], indirect=True)
def test_moto_reads_past_a_few_hundred_learner_messages(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    url = queue_url(sqs, "customer-accounting")
    for first in range(0, 190, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"learner": first + n})} for n in range(10)])
    started = time.monotonic()
    report = session.check_lab(LAB, record=False)
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert depth(ctx, "customer-accounting") == ("190", "0")
    record_figure("moto_190_messages_check_s", round(time.monotonic() - started, 2))


# -- a bucket policy at the size limit ------------------------------------------------------------
@ministack_only
def test_a_bucket_policy_at_the_20_kb_limit_is_graded_quickly(lab_home):
    from checkers import s3_security

    start("s3-security", lab_home)
    session.solve_lab("s3-security")
    ctx = context("s3-security")
    s3 = ctx.client("s3")
    document = json.loads(s3.get_bucket_policy(Bucket=s3_security.RIDES)["Policy"])
    filler = {"Sid": "", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader-ü"},
              "Action": ["s3:GetObjectTagging"], "Resource": f"arn:aws:s3:::{s3_security.RIDES}/reports/*"}
    n = 0
    while len(json.dumps(document)) < 20_480 - 250:
        document["Statement"].append({**filler, "Sid": f"Filler{n}"})
        n += 1
    text = json.dumps(document)
    assert 20_000 < len(text.encode()) <= 20_480
    s3.put_bucket_policy(Bucket=s3_security.RIDES, Policy=text)
    started = time.monotonic()
    report = session.check_lab("s3-security", record=False)
    elapsed = time.monotonic() - started
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert elapsed < 10
    record_figure("s3_policy_20kb_check_s", round(elapsed, 2))


# -- unicode ------------------------------------------------------------------------------------
@ministack_only
def test_unicode_in_tags_topic_names_and_items_gets_a_clear_verdict(solved):
    ctx = solved
    sns = ctx.client("sns")
    topic = sns_fanout.read_setup(ctx).topic_arn
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "Project", "Value": "rides 🚕 ünïcode"}])
    sns.create_topic(Name="RideCompleted-ünï")
    report = session.check_lab(LAB, record=False)
    assert statuses(report)["create-topic"] == "fail"
    assert "rides 🚕 ünïcode" in message(report, "create-topic")
    result = run_lab("check", LAB, "--task", "create-topic", env={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr


@ministack_only
def test_a_lab_home_with_spaces_and_unicode(lab_home, tmp_path):
    home = tmp_path / "my home ü 🚕"
    home.mkdir()
    (home / "emulator.json").write_text(json.dumps(lab_home.state.to_dict()))  # the same emulator
    env = {"LAB_HOME": str(home)}
    assert run_lab("start", LAB, env=env).returncode == 0
    result = run_lab("check", "--json", env=env)
    assert result.returncode == 1 and json.loads(result.stdout)["lab"] == LAB
    status = json.loads(run_lab("status", "--json", env=env).stdout)
    assert status["labs"][0]["workspace"].startswith(str(home))


# -- lab.yaml, emulator.json and progress.db with unexpected content -------------------------------
VALID = textwrap.dedent("""\
    id: odd-lab
    title: An odd lab
    summary: A lab whose lab.yaml is damaged in one way.
    services: [sqs]
    minutes: 5
    achievement: Survived odd input
    references: [{label: Docs, url: "https://docs.aws.amazon.com/"}]
    tasks:
      - {id: one, title: Do one thing, hints: [a]}
""")
ODD_LAB_YAML = {
    "tasks as a string": VALID.replace("tasks:\n  - {id: one, title: Do one thing, hints: [a]}", "tasks: do things"),
    "hints as numbers": VALID.replace("hints: [a]", "hints: [1, 2.5, null]"),
    "points as words": VALID.replace("hints: [a]}", "hints: [a], points: many}"),
    "id as a number": VALID.replace("id: odd-lab", "id: 123"),
    "title null": VALID.replace("title: An odd lab", "title: null"),
    "minutes huge": VALID.replace("minutes: 5", "minutes: 1e309"),
    "minutes a date": VALID.replace("minutes: 5", "minutes: 2025-11-03"),
    "an impossible date": VALID.replace("minutes: 5", "minutes: 2025-13-45"),
    "deep nesting": VALID.replace("services: [sqs]", "services: " + "[" * 3000 + "]" * 3000),
    "a recursive alias": VALID.replace("hints: [a]}", "hints: &h [*h]}"),
    "a list at the top": "- id: odd-lab\n",
    "empty": "",
    "a python tag": VALID.replace("minutes: 5", "minutes: !!python/object/apply:os.getpid []"),
    "tabs": VALID.replace("  - {id", "\t- {id"),
    "unknown task kind": VALID.replace("hints: [a]}", "hints: [a], kind: bonus}"),
    "not_on a number": VALID.replace("hints: [a]}", "hints: [a], not_on: {moto: 5}}"),
    "a url that is not one": VALID.replace('url: "https://docs.aws.amazon.com/"', "url: javascript:alert(1)"),
}


@pytest.mark.parametrize("case", sorted(ODD_LAB_YAML))
def test_a_lab_yaml_with_unexpected_types_is_a_named_format_error(tmp_path, case):
    folder = tmp_path / "odd-lab"
    folder.mkdir()
    (folder / "lab.yaml").write_text(ODD_LAB_YAML[case], encoding="utf-8")
    with pytest.raises(LabFormatError) as problem:
        catalog.load_lab(folder)
    assert str(folder / "lab.yaml") in str(problem.value) and "field '" in str(problem.value)


def test_a_lab_yaml_that_is_not_utf8_is_named_and_hides_no_other_lab(empty_home, tmp_path):
    folder = tmp_path / "labs" / "odd-lab"
    folder.mkdir(parents=True)
    (folder / "lab.yaml").write_bytes(VALID.encode().replace(b"An odd lab", b"An \xff\xfe lab"))
    env = {"LAB_PATH": str(tmp_path / "labs")}
    shown = run_lab("show", "odd-lab", env=env)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert "is not UTF-8 text" in shown.stderr
    listing = run_lab("list", env=env)
    assert listing.returncode == 0 and LAB in listing.stdout and "odd-lab" in listing.stderr


DAMAGED_EMULATOR_RECORDS = ['{"backend": "ministack"}', '{"backend": "ministack", "url": 5}',
                            '{"backend": "ministack", "url": "http://127.0.0.1:9", "pid": "abc"}',
                            '"a string"', "[1, 2]", '{"backend": "ministack", "url": "http://127.0.0.1:9", "port": true}']


def test_a_damaged_emulator_record_reads_as_no_emulator(empty_home):
    empty_home.mkdir(parents=True, exist_ok=True)
    for number, record in enumerate([*DAMAGED_EMULATOR_RECORDS, "\udcff"]):
        (empty_home / "emulator.json").write_text(record, encoding="utf-8", errors="surrogateescape")
        status = run_lab("status")
        assert status.returncode == 0 and "not running" in status.stdout, (record, status.stderr)
        if number % 3 == 0:
            check = run_lab("check", LAB)
            assert check.returncode == 3 and "No emulator is running" in check.stderr, (record, check.stderr)


def test_a_damaged_progress_database_says_what_to_do(empty_home):
    empty_home.mkdir(parents=True, exist_ok=True)
    (empty_home / "progress.db").write_bytes(b"this is not a database" * 100)
    result = run_lab("status")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a progress database `lab` can read" in result.stderr and ".damaged" in result.stderr


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan", "inf"])
def test_a_timeout_that_is_not_a_number_is_refused(empty_home, value):
    result = run_lab("check", LAB, "--timeout", value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--timeout" in result.stderr


# -- credentials and endpoints: nothing leaves the machine -------------------------------------------
NETWORK_GUARD = textwrap.dedent("""
    # Test-only: refuse (and log) any connection or name lookup that is not loopback.
    import ipaddress, os, socket

    LOG = os.environ["LAB_NETWORK_LOG"]
    _getaddrinfo, _connect = socket.getaddrinfo, socket.socket.connect

    def _local(host):
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host in ("localhost", "") or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def _refuse(what):
        with open(LOG, "a") as log:
            log.write(what + "\\n")
        raise OSError(f"test network guard: refused {what}")

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _local(host):
            _refuse(f"lookup {host}")
        return _getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse(f"connect {address[0]}")
        return _connect(sock, address)

    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
""")

HOSTILE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "real-session-token",
    "AWS_PROFILE": "production",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "https://sqs.eu-west-1.amazonaws.com",
    "AWS_ENDPOINT_URL_SNS": "https://sns.eu-west-1.amazonaws.com",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
}

# A publisher that builds its own boto3 session (not boto3's default one), as learners do.
OWN_SESSION_PUBLISHER = '''
import json
import boto3

def complete_ride(ride):
    sns = boto3.session.Session().client("sns")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":RideCompleted"))
    attributes = {"fare": {"DataType": "Number", "StringValue": str(ride["fare"])},
                  "distanceKm": {"DataType": "Number", "StringValue": str(ride["distanceKm"])},
                  "rideType": {"DataType": "String", "StringValue": ride["rideType"]}}
    return sns.publish(TopicArn=topic, Message=json.dumps(ride), MessageAttributes=attributes)["MessageId"]
'''


@ministack_only
def test_real_credentials_profiles_and_endpoint_variables_never_take_a_check_off_the_machine(solved, tmp_path):
    ctx = solved
    (ctx.workspace / "ride_service.py").write_text(OWN_SESSION_PUBLISHER)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NETWORK_GUARD)
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "config").write_text("[default]\nregion = eu-west-1\nendpoint_url = https://sns.eu-west-1.amazonaws.com\n"
                                "ignore_configured_endpoint_urls = true\n[profile production]\nregion = eu-west-1\n")
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKIAREAL\naws_secret_access_key = real\n")
    log = tmp_path / "network.log"
    env = {**HOSTILE_ENV, "AWS_CONFIG_FILE": str(aws / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "LAB_NETWORK_LOG": str(log)}
    result = run_lab("check", "--json", env=env)
    assert not log.exists(), log.read_text()
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(t["status"] == "pass" for t in json.loads(result.stdout)["tasks"])


def test_an_endpoint_on_another_machine_is_refused_before_any_connection(empty_home, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NETWORK_GUARD)
    log = tmp_path / "network.log"
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "LAB_NETWORK_LOG": str(log)}
    for url in ("http://10.1.2.3:4566", "https://sqs.us-east-1.amazonaws.com", "http://[::ffff:10.1.2.3]:4566",
                "http://127.0.0.1.nip.io:4566", "http://0.0.0.0:4566"):
        result = run_lab("start", LAB, "--endpoint", url, env=env)
        assert result.returncode == 2 and "Refusing to send AWS requests" in result.stderr, (url, result.stderr)
    assert not log.exists(), log.read_text()
    assert emulator.current_state() is None


def test_the_network_guard_itself_refuses(tmp_path):
    """The guard the two tests above rely on does refuse a lookup (it never reaches a resolver)."""
    import subprocess
    import sys

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NETWORK_GUARD)
    log = tmp_path / "network.log"
    code = "import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\nexcept OSError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site), "LAB_NETWORK_LOG": str(log)})
    assert "refused lookup example.com" in out.stdout
    assert socket.getaddrinfo("127.0.0.1", 80)  # this process is untouched
