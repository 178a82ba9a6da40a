"""sns-fanout, specified: fresh start fails every learner task, the reference
solution passes every task, re-checking changes nothing, and each
wrong-but-plausible setup fails the right task with a message that helps."""

from __future__ import annotations

import json

import pytest

from checkers import sns_fanout as lab_checker
from checkers._support.sqs import queue_url
from labkit import session
from tests.labtools import check, context, learner_tasks, message, start, statuses

LAB = "sns-fanout"


@pytest.fixture
def solved(lab_home):
    start(LAB, lab_home)
    session.solve_lab(LAB)
    return context(LAB)


def subscription_arn(ctx, queue: str) -> str:
    setup = lab_checker.read_setup(ctx)
    return setup.subscription(queue)["SubscriptionArn"]


def queue_contents(ctx) -> dict[str, list[str]]:
    """Every message body in every lab queue, read and handed straight back."""
    sqs = ctx.client("sqs")
    contents = {}
    for name in ("customer-notification", "customer-accounting", "extraordinary-rides", "accounting-dlq"):
        url = queue_url(sqs, name)
        bodies, handles = [], []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
            if not batch:
                break
            bodies += [m["Body"] for m in batch]
            handles += [m["ReceiptHandle"] for m in batch]
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        contents[name] = sorted(bodies)
    return contents


def test_fresh_start_fails_every_learner_task_with_its_own_message(lab_home):
    lab = start(LAB, lab_home)
    report = check(LAB)
    results = statuses(report)
    assert results["deploy-initial-resources"] == "pass"
    assert all(results[task] == "fail" for task in learner_tasks(lab)), results
    assert "No SNS topic named RideCompleted" in message(report, "create-topic")
    assert "create it first" in message(report, "notification-subscriber")


def test_reference_solution_passes_and_rechecking_changes_nothing(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    for name in ("customer-notification", "customer-accounting", "extraordinary-rides"):
        sqs.send_message(QueueUrl=queue_url(sqs, name), MessageBody=json.dumps({"learner": name}))
    before = queue_contents(ctx)
    subscriptions_before = len(lab_checker._all_subscriptions(ctx.client("sns")))

    first = check(LAB)
    assert all(task.status == "pass" for task in first.tasks), [(t.id, t.message) for t in first.tasks]
    second = check(LAB)
    assert [(t.id, t.status, t.message) for t in second.tasks] == [(t.id, t.status, t.message) for t in first.tasks]

    assert queue_contents(ctx) == before  # the learner's messages are untouched, no probe is left
    assert len(lab_checker._all_subscriptions(ctx.client("sns"))) == subscriptions_before
    assert not [u for u in sqs.list_queues().get("QueueUrls", []) if "lab-probe-" in u]


def test_filter_with_strict_greater_than_misses_the_boundary_fare(solved):
    ctx = solved
    ctx.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription_arn(ctx, "extraordinary-rides"),
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"fare": [{"numeric": [">", 50]}]}),
    )
    report = check(LAB, "extraordinary-subscriber")
    assert statuses(report)["extraordinary-subscriber"] == "fail"
    assert "missed the ride with fare 50" in message(report, "extraordinary-subscriber")
    assert '">="' in message(report, "extraordinary-subscriber")


def test_filter_that_also_matches_cheap_rides_fails(solved):
    ctx = solved
    ctx.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription_arn(ctx, "extraordinary-rides"),
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"fare": [{"numeric": [">=", 10]}]}),
    )
    report = check(LAB, "extraordinary-subscriber")
    assert statuses(report)["extraordinary-subscriber"] == "fail"
    assert "also let through the ride with fare 12" in message(report, "extraordinary-subscriber")


def test_filter_on_a_misspelled_attribute_fails(solved):
    ctx = solved
    ctx.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription_arn(ctx, "extraordinary-rides"),
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"Fare": [{"numeric": [">=", 50]}]}),
    )
    report = check(LAB, "extraordinary-subscriber")
    assert statuses(report)["extraordinary-subscriber"] == "fail"
    assert "received none" in message(report, "extraordinary-subscriber")
    assert "case-sensitive" in message(report, "extraordinary-subscriber")


def test_notification_subscriber_without_raw_delivery_fails(solved):
    ctx = solved
    ctx.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription_arn(ctx, "customer-notification"),
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    report = check(LAB)
    assert statuses(report)["notification-subscriber"] == "fail"
    assert "RawMessageDelivery=true" in message(report, "notification-subscriber")
    assert statuses(report)["validate-fanout"] == "fail"
    assert "customer-notification got them in an envelope" in message(report, "validate-fanout")


def test_accounting_subscriber_with_raw_delivery_fails(solved):
    ctx = solved
    ctx.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription_arn(ctx, "customer-accounting"),
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )
    report = check(LAB, "accounting-subscriber")
    assert statuses(report)["accounting-subscriber"] == "fail"
    assert "raw delivery on" in message(report, "accounting-subscriber")


def test_accounting_subscriber_without_a_dead_letter_queue_fails(solved):
    ctx = solved
    sns = ctx.client("sns")
    sns.unsubscribe(SubscriptionArn=subscription_arn(ctx, "customer-accounting"))
    setup = lab_checker.read_setup(ctx)
    sns.subscribe(TopicArn=setup.topic_arn, Protocol="sqs", Endpoint=setup.queue_arns["customer-accounting"])
    report = check(LAB, "accounting-subscriber")
    assert statuses(report)["accounting-subscriber"] == "fail"
    assert "no dead-letter queue" in message(report, "accounting-subscriber")


def write_publisher(ctx, source: str) -> None:
    (ctx.workspace / "ride_service.py").write_text(source)


PUBLISHER_WITHOUT_FARE = '''
import json, boto3

def complete_ride(ride):
    sns = boto3.client("sns")
    arn = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":RideCompleted")][0]
    return sns.publish(TopicArn=arn, Message=json.dumps(ride), MessageAttributes={
        "distanceKm": {"DataType": "Number", "StringValue": str(ride["distanceKm"])},
        "rideType": {"DataType": "String", "StringValue": ride["rideType"]},
    })["MessageId"]
'''


def test_publisher_that_omits_the_fare_attribute_fails(solved):
    write_publisher(solved, PUBLISHER_WITHOUT_FARE)
    report = check(LAB)
    assert statuses(report)["publisher"] == "fail"
    assert "no `fare` message attribute" in message(report, "publisher")
    assert statuses(report)["validate-fanout"] == "fail"
    assert "extraordinary-rides got fares none, expected 95" in message(report, "validate-fanout")
    # the subscribers are graded with the checker's own probes, so they still pass
    assert statuses(report)["extraordinary-subscriber"] == "pass"


def test_publisher_that_sends_fare_as_a_string_fails(solved):
    write_publisher(solved, PUBLISHER_WITHOUT_FARE.replace(
        '"distanceKm": {', '"fare": {"DataType": "String", "StringValue": str(ride["fare"])},\n        "distanceKm": {'))
    report = check(LAB, "publisher")
    assert "DataType String" in message(report, "publisher")


def test_unimplemented_or_crashing_publisher_is_a_fail_not_an_error(lab_home):
    start(LAB, lab_home)
    report = check(LAB, "publisher")
    assert statuses(report)["publisher"] == "fail"
    session.solve_lab(LAB)
    ctx = context(LAB)
    write_publisher(ctx, "def complete_ride(ride):\n    raise ValueError('no fare')\n")
    report = check(LAB, "publisher")
    assert statuses(report)["publisher"] == "fail"
    assert "complete_ride() raised ValueError: no fare (ride_service.py line 2)" in message(report, "publisher")
    write_publisher(ctx, "def complete_ride(ride)\n    pass\n")
    report = check(LAB, "publisher")
    assert "syntax error on line 1" in message(report, "publisher")


def test_subscription_to_the_wrong_topic_fails(solved):
    ctx = solved
    sns = ctx.client("sns")
    sns.unsubscribe(SubscriptionArn=subscription_arn(ctx, "customer-notification"))
    other = sns.create_topic(Name="RideCompletedTest")["TopicArn"]
    setup = lab_checker.read_setup(ctx)
    sns.subscribe(TopicArn=other, Protocol="sqs", Endpoint=setup.queue_arns["customer-notification"],
                  Attributes={"RawMessageDelivery": "true"})
    report = check(LAB, "notification-subscriber")
    assert statuses(report)["notification-subscriber"] == "fail"
    assert "subscribed to RideCompletedTest, not to RideCompleted" in message(report, "notification-subscriber")


def test_missing_queue_policy_fails(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    sqs.set_queue_attributes(QueueUrl=queue_url(sqs, "customer-notification"), Attributes={"Policy": ""})
    report = check(LAB, "notification-subscriber")
    assert statuses(report)["notification-subscriber"] == "fail"
    assert "has no queue policy" in message(report, "notification-subscriber")


def test_queue_policy_without_a_source_condition_fails(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    url = queue_url(sqs, "extraordinary-rides")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    open_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(open_policy)})
    report = check(LAB, "extraordinary-subscriber")
    assert statuses(report)["extraordinary-subscriber"] == "fail"
    assert "lets any SNS topic send" in message(report, "extraordinary-subscriber")


def test_topic_without_the_project_tag_fails(lab_home):
    start(LAB, lab_home)
    context(LAB).client("sns").create_topic(Name="RideCompleted")
    report = check(LAB, "create-topic")
    assert statuses(report)["create-topic"] == "fail"
    assert "expected the tag Project=rides" in message(report, "create-topic")


def test_reset_removes_the_lab_and_its_progress(solved):
    check(LAB)
    session.reset_lab(LAB)
    ctx = context(LAB)
    assert lab_checker.read_setup(ctx).topic_arn is None
    from labkit.progress import ProgressStore

    assert ProgressStore().lab_progress(LAB) is None
