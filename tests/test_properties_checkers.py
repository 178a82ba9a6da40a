"""Property-based tests of whole checks against the session emulator: random things a learner
can create (filter policies, queue attributes, table definitions, bucket policies) are put in
place one at a time on a solved lab, and the task's check must

- never crash or time out: always `pass` or `fail`, with a message;
- pass exactly when the reference semantics accept the configuration (computed here, apart
  from the checker), so it never passes a configuration they reject.

Few examples each (they hit the emulator), derandomised so CI sees the same ones every run;
LAB_PROPERTY_EXAMPLES raises the count for a deeper local run.
"""

from __future__ import annotations

import json
import os

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers import dynamodb_gsi, s3_security, sns_fanout, sqs_scaling
from checkers._support import policy
from checkers._support import s3 as s3s
from labkit import session
from tests.labtools import context, start
from tests.test_properties_policy import reference

EXAMPLES = int(os.environ.get("LAB_PROPERTY_EXAMPLES", "15"))
pytestmark = pytest.mark.parametrize("engine", ["ministack"], indirect=True)


def few(**kwargs):
    return settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), **kwargs)


def verdict(lab_id: str, task: str):
    report = session.check_lab(lab_id, only=task, record=False)
    (result,) = report.tasks
    assert result.status in ("pass", "fail"), (result.status, result.message)  # never a crash or a timeout
    assert result.message
    return result.status == "pass", result.message


def solved(lab_home, lab_id):
    start(lab_id, lab_home)
    session.solve_lab(lab_id)
    return context(lab_id)


# -- sns-fanout: the extraordinary-rides filter ----------------------------------------------------
LOWER = [0, 12, 49, 49.5, 49.99, 49.995, 50, 50.001, 50.01, 51, 80]
UPPER = [60, 100, 1000, 9999.99, 10000, 10000.01, 20000]


@st.composite
def fare_filters(draw):
    key = draw(st.sampled_from(["fare"] * 6 + ["Fare", "fares"]))
    shape = draw(st.integers(0, 4))
    lower = [draw(st.sampled_from([">", ">="])), draw(st.sampled_from(LOWER))]
    upper = [draw(st.sampled_from(["<", "<="])), draw(st.sampled_from(UPPER))]
    condition = [{"numeric": lower}, {"numeric": lower + upper}, {"numeric": upper}, {"numeric": ["=", 50]},
                 {"exists": True}][shape]
    return {key: [condition]}


def accepts(condition: dict, fare: float) -> bool:
    if "exists" in condition:
        return True
    terms = condition["numeric"]
    checks = {">": fare.__gt__, ">=": fare.__ge__, "<": fare.__lt__, "<=": fare.__le__, "=": fare.__eq__}
    return all(checks[op](float(value)) for op, value in zip(terms[::2], terms[1::2]))


def reference_filter_is_right(filter_policy: dict) -> bool:
    """Exactly the rides with fare >= 50, for every fare in cents from 0 to 10 000 (fare is a
    Number attribute; any other attribute name matches nothing)."""
    if list(filter_policy) != ["fare"]:
        return False
    (condition,) = filter_policy["fare"]
    # Between two bounds the answer cannot change: the cents next to every bound, and the ends,
    # stand for the whole grid.
    bounds = [float(v) for v in condition.get("numeric", [])[1::2]] + [50.0]
    cents = {0, 1_000_000} | {int(b * 100) + d for b in bounds for d in (-2, -1, 0, 1, 2)}
    return all(accepts(condition, c / 100) == (c >= 5000) for c in cents if 0 <= c <= 1_000_000)


def test_the_extraordinary_filter_passes_exactly_when_it_keeps_fares_of_50_and_more(lab_home):
    ctx = solved(lab_home, "sns-fanout")
    setup = sns_fanout.read_setup(ctx)
    arn = setup.subscription(sns_fanout.EXTRAORDINARY)["SubscriptionArn"]
    sns = ctx.client("sns")

    @few()
    @given(fare_filters())
    def judged_right(filter_policy):
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy",
                                        AttributeValue=json.dumps(filter_policy))
        passed, message = verdict("sns-fanout", "extraordinary-subscriber")
        assert passed == reference_filter_is_right(filter_policy), (filter_policy, message)

    judged_right()


def test_a_filter_with_a_gap_between_probe_fares_is_caught(lab_home):
    ctx = solved(lab_home, "sns-fanout")
    arn = sns_fanout.read_setup(ctx).subscription(sns_fanout.EXTRAORDINARY)["SubscriptionArn"]
    gap = {"fare": [{"numeric": [">=", 50, "<", 60]}, {"numeric": [">=", 70]}]}  # misses 60..70
    ctx.client("sns").set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy",
                                                  AttributeValue=json.dumps(gap))
    passed, message = verdict("sns-fanout", "extraordinary-subscriber")
    assert passed is False
    assert "would drop a ride with fare 60" in message


# -- sqs-scaling: the queue's attributes -------------------------------------------------------------
queue_settings = st.fixed_dictionaries({
    "visibility": st.sampled_from([60, 60, 60, 0, 30, 59, 61, 900, 43200]),
    "wait": st.sampled_from([0, 1, 10, 20]),
    "target": st.sampled_from(["dlq", "dlq", "other", "none"]),
    "max_receive": st.sampled_from([1, 3, 3, "3", 10, 11, 1000]),
})


def test_create_queues_passes_exactly_for_the_documented_attributes(lab_home):
    ctx = solved(lab_home, "sqs-scaling")
    sqs = ctx.client("sqs")
    url = sqs.get_queue_url(QueueName=sqs_scaling.QUEUE)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=sqs_scaling.DLQ)["QueueUrl"],
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    other = sqs.create_queue(QueueName="some-other-dlq")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    @few()
    @given(queue_settings)
    def judged_right(chosen):
        attributes = {"VisibilityTimeout": str(chosen["visibility"]),
                      "ReceiveMessageWaitTimeSeconds": str(chosen["wait"]), "RedrivePolicy": ""}
        if chosen["target"] != "none":
            attributes["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": dlq_arn if chosen["target"] == "dlq" else other_arn,
                "maxReceiveCount": chosen["max_receive"]})
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        passed, message = verdict("sqs-scaling", "create-queues")
        right = (chosen["visibility"] == 60 and chosen["wait"] >= 1 and chosen["target"] == "dlq"
                 and 1 <= int(chosen["max_receive"]) <= 10)
        assert passed == right, (chosen, message)

    judged_right()
    sqs.delete_queue(QueueUrl=other)


# -- dynamodb-gsi: the Rides table -------------------------------------------------------------------
table_definitions = st.fixed_dictionaries({
    "hash": st.sampled_from([("RideId", "S")] * 3 + [("RideId", "N"), ("RideId", "B"), ("rideId", "S"), ("Id", "S")]),
    "range": st.sampled_from([None, None, ("RequestTime", "S"), ("City", "S")]),
    "billing": st.sampled_from(["PAY_PER_REQUEST", "PAY_PER_REQUEST", "PROVISIONED"]),
})


def test_create_table_passes_exactly_for_the_documented_design(lab_home):
    solved(lab_home, "dynamodb-gsi")
    ddb = context("dynamodb-gsi").client("dynamodb")

    @few()
    @given(table_definitions)
    def judged_right(design):
        ddb.delete_table(TableName=dynamodb_gsi.RIDES)
        keys = [design["hash"]] + ([design["range"]] if design["range"] else [])
        extra = {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}} \
            if design["billing"] == "PROVISIONED" else {}
        ddb.create_table(TableName=dynamodb_gsi.RIDES, BillingMode=design["billing"],
                         KeySchema=[{"AttributeName": name, "KeyType": kind}
                                    for (name, _), kind in zip(keys, ("HASH", "RANGE"))],
                         AttributeDefinitions=[{"AttributeName": name, "AttributeType": t} for name, t in keys],
                         **extra)
        passed, message = verdict("dynamodb-gsi", "create-table")
        right = design["hash"] == ("RideId", "S") and design["range"] is None and design["billing"] == "PAY_PER_REQUEST"
        assert passed == right, (design, message)

    judged_right()


# -- s3-security: the HTTPS-only bucket policy --------------------------------------------------------
@st.composite
def bucket_policies(draw, lab):
    bucket = s3s.bucket_arn(s3_security.RIDES)
    statements = []
    if draw(st.booleans()):  # the right statement, perhaps with one thing changed
        right = {"Sid": "DenyHTTP", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [bucket, f"{bucket}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        change = draw(st.sampled_from(["none", "none", "Effect", "Principal", "Action", "Resource", "Condition"]))
        right.update({"none": {}, "Effect": {"Effect": "Allow"}, "Principal": {"Principal": {"AWS": lab.app_arn}},
                      "Action": {"Action": ["s3:GetObject", "s3:PutObject"]}, "Resource": {"Resource": f"{bucket}/*"},
                      "Condition": {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}}[change])
        statements.append(right)
    for number in range(draw(st.integers(0 if statements else 1, 2))):
        statement = {
            "Sid": f"S{number}",
            "Effect": draw(st.sampled_from(["Deny", "Deny", "Allow"])),
            "Principal": draw(st.sampled_from(["*", {"AWS": "*"}, {"AWS": lab.app_arn}, {"AWS": lab.account},
                                               {"AWS": lab.admin_arn}])),
            "Action": draw(st.sampled_from(["s3:*", "s3:GetObject", ["s3:GetObject", "s3:PutObject"], "s3:Get*",
                                            ["s3:GetObject", "s3:PutObject", "s3:ListBucket"], "*"])),
            "Resource": draw(st.sampled_from([bucket, f"{bucket}/*", [bucket, f"{bucket}/*"], f"{bucket}*",
                                              "arn:aws:s3:::another-bucket/*"])),
        }
        condition = draw(st.sampled_from([
            None, {"Bool": {"aws:SecureTransport": "false"}}, {"Bool": {"aws:SecureTransport": ["false"]}},
            {"Bool": {"aws:SecureTransport": "true"}}, {"BoolIfExists": {"aws:SecureTransport": "false"}},
            {"StringNotEquals": {"aws:SourceVpce": lab.vpce_id}},
            {"Bool": {"aws:securetransport": "FALSE"}}]))
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def reference_https_only(document: dict, lab) -> bool:
    """S3 would accept the policy, every plain-HTTP row is denied, and no HTTPS row is denied by a
    statement about transport (or one without any condition)."""
    if s3s.lint_bucket_policy(document, s3_security.RIDES):
        return False
    for row in s3_security.https_rows(lab):
        effect = reference(document, row.request)
        if row.expect == "deny" and effect != policy.DENY:
            return False
        if row.expect == "not-deny" and effect == policy.DENY:
            from tests.test_properties_policy import ref_applies

            blamed = [s for s in document["Statement"] if s["Effect"] == "Deny" and ref_applies(s, row.request)
                      and (not s.get("Condition") or "aws:securetransport" in json.dumps(s["Condition"]).lower())]
            if blamed:
                return False
    return True


def test_enforce_https_passes_exactly_when_the_reference_semantics_deny_plain_http(lab_home):
    ctx = solved(lab_home, "s3-security")
    s3 = ctx.client("s3")
    lab = s3_security.read_lab(ctx)

    @few()
    @given(bucket_policies(lab))
    def judged_right(document):
        try:
            s3.put_bucket_policy(Bucket=s3_security.RIDES, Policy=json.dumps(document))
        except ClientError:
            return  # the emulator refused it (Block Public Access): nothing to grade
        passed, message = verdict("s3-security", "enforce-https")
        assert passed == reference_https_only(document, lab), (json.dumps(document), message)

    judged_right()
