"""sns-fanout: a RideCompleted topic fanned out to three subscriber queues.

How it is graded:
- behaviour first: the checker publishes probe rides (fare 12, 49.99, 50, 80, 10000) to the
  topic and reads which queue got which, raw or in the SNS envelope; it also
  calls the learner's `ride_service.complete_ride()` with two probe rides and
  watches them through a private subscription and through the learner's queues;
- configuration second: subscription attributes (raw delivery, filter, DLQ);
- our own evaluator for queue policies, which the emulators do not enforce.
Probes carry this run's id and are deleted; other messages are handed back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from checkers._support import policy, sns_filter
from checkers._support.sqs import (
    QueueRead,
    collect_probes,
    queue_arn,
    queue_attributes,
    queue_url,
    stale_probe_queues,
)
from labkit.checks import Checker, CheckContext, Fail, Inconclusive, expect

checker = Checker("sns-fanout")

TOPIC = "RideCompleted"
STACK = "rides-base"
NOTIFICATION, ACCOUNTING, EXTRAORDINARY, DLQ = (
    "customer-notification",
    "customer-accounting",
    "extraordinary-rides",
    "accounting-dlq",
)
SUBSCRIBER_QUEUES = (NOTIFICATION, ACCOUNTING, EXTRAORDINARY)
EXTRAORDINARY_FARE = 50
# Published by the checker: cheap, a cent under the boundary, on it, expensive, very expensive. With
# fares in cents, a single numeric condition that passes all five is exactly "fare >= 50" up to 10000
# ("> 49" or "<= 1000" is caught); a filter of several ranges with a gap between probes is not.
DIRECT_FARES = (12, 49.99, 50, 80, 10000)
PUBLISHER_FARES = (15, 95)  # published through the learner's complete_ride()
PUBLISHER_FILE, PUBLISHER_FUNCTION = "ride_service.py", "complete_ride"
# Learner messages in the lab's queues the probe may have to read past. Receives slow down with
# queue depth on both engines (ministack scans the queue; moto takes ~0.2 s per receive at 200).
MAX_WAITING = {"moto": 200}
DEFAULT_MAX_WAITING = 2000


# -- what the emulator holds ---------------------------------------------------------
@dataclass
class Setup:
    account: str
    region: str
    topic_arn: str | None
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    # queue name -> subscriptions whose endpoint is that queue (on any topic)
    subscriptions: dict[str, list[dict]] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)  # queue name -> messages waiting in it

    def subscription(self, queue: str) -> dict | None:
        return next((s for s in self.subscriptions.get(queue, []) if s["TopicArn"] == self.topic_arn), None)


def _all_subscriptions(sns) -> list[dict]:
    paginator = sns.get_paginator("list_subscriptions")
    return [sub for page in paginator.paginate() for sub in page.get("Subscriptions", [])]


def _topics(sns) -> list[str]:
    paginator = sns.get_paginator("list_topics")
    return [topic["TopicArn"] for page in paginator.paginate() for topic in page.get("Topics", [])]


def read_setup(ctx: CheckContext) -> Setup:
    sns, sqs = ctx.client("sns"), ctx.client("sqs")
    topic_arn = next((arn for arn in _topics(sns) if arn.split(":")[-1] == TOPIC), None)
    urls, arns = {}, {}
    depths = {}
    for name in (*SUBSCRIBER_QUEUES, DLQ):
        url = queue_url(sqs, name)
        if url:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"])
            urls[name], arns[name] = url, attributes["Attributes"]["QueueArn"]
            depths[name] = int(attributes["Attributes"].get("ApproximateNumberOfMessages") or 0)
    any_arn = topic_arn or next(iter(arns.values()), "arn:aws:sqs:us-east-1:000000000000:x")
    _, _, _, region, account, _ = any_arn.split(":", 5)
    setup = Setup(account, region, topic_arn, urls, arns, depths=depths)
    by_endpoint = {arn: name for name, arn in arns.items()}
    for sub in _all_subscriptions(sns):
        name = by_endpoint.get(sub.get("Endpoint"))
        if name and sub.get("Protocol") == "sqs":
            attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            setup.subscriptions.setdefault(name, []).append({**sub, "Attributes": attributes})
    return setup


def require_queue(setup: Setup, name: str) -> None:
    expect(name in setup.queue_urls, f"Queue {name} is missing; `lab start sns-fanout` creates it again.")


def require_topic(setup: Setup) -> None:
    expect(setup.topic_arn, f"There is no SNS topic named {TOPIC} yet; create it first (task create-topic).")


# -- the probe -------------------------------------------------------------------------
def probe_ride(ctx: CheckContext, origin: str, fare: int) -> dict:
    return {
        "rideId": f"{ctx.run_id}-{origin}{fare}",
        "riderId": "probe-rider",
        "driverId": "probe-driver",
        "fare": fare,
        "distanceKm": 31 if fare >= EXTRAORDINARY_FARE else 5,
        "durationMin": 20,
        "rideType": "standard",
        "completedAt": "2025-11-03T09:00:00Z",
    }


def publish_direct(sns, topic_arn: str, ride: dict) -> None:
    """Publish a ride the way a correct publisher would (our reference for subscriber tasks)."""
    sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps(ride),
        MessageAttributes={
            "fare": {"DataType": "Number", "StringValue": str(ride["fare"])},
            "distanceKm": {"DataType": "Number", "StringValue": str(ride["distanceKm"])},
            "rideType": {"DataType": "String", "StringValue": ride["rideType"]},
        },
    )


@dataclass
class Probe:
    direct: dict[int, dict]  # fare -> ride
    learner: dict[int, dict]
    publisher_failure: str | None
    reads: dict[str, QueueRead]  # queue name (incl. our private tap) -> what arrived

    def arrived(self, queue: str, ride: dict):
        read = self.reads.get(queue)
        delivery = read.deliveries.get(ride["rideId"]) if read else None
        if delivery is None and read is not None and read.truncated:
            raise Inconclusive(
                f"{queue} holds more messages than the check can read past in time (it read {read.foreign_seen} of "
                f"yours without reaching its probe rides), so it cannot tell whether they arrived; receive and delete "
                f"your test messages or purge the queue (`awslocal sqs purge-queue --queue-url \"$(awslocal sqs "
                f"get-queue-url --queue-name {queue} --query QueueUrl --output text)\"`), then check again.")
        return delivery


TAP = "tap"  # our private raw subscription: sees exactly what was published to the topic


def run_probe(ctx: CheckContext) -> Probe:
    setup = ctx.fixture(read_setup)
    require_topic(setup)
    sns, sqs = ctx.client("sns"), ctx.client("sqs")
    waiting, limit = sum(setup.depths.values()), MAX_WAITING.get(ctx.backend, DEFAULT_MAX_WAITING)
    if waiting > limit:
        # Probe rides would land behind all of them: reading past that many takes longer than a
        # task may (ministack scans the queue on every receive), and unread probes would stay.
        counts = ", ".join(f"{name} {count}" for name, count in setup.depths.items() if count)
        raise Inconclusive(
            f"Your queues hold {waiting} messages ({counts}): more than the {limit} the check can read past "
            "to find its probe rides, so it publishes none and cannot test delivery. Receive and delete your test "
            "messages or purge the queues (`awslocal sqs purge-queue --queue-url URL`), then check again.")
    direct = {fare: probe_ride(ctx, "d", fare) for fare in DIRECT_FARES}
    learner = {fare: probe_ride(ctx, "l", fare) for fare in PUBLISHER_FARES}

    sweep_stale_taps(ctx)
    tap_url = sqs.create_queue(QueueName=f"lab-probe-{ctx.run_id}")["QueueUrl"]
    tap_sub = sns.subscribe(
        TopicArn=setup.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, tap_url),
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    try:
        for ride in direct.values():
            publish_direct(sns, setup.topic_arn, ride)
        publisher_failure = None
        try:
            complete_ride = ctx.learner_function(PUBLISHER_FILE, PUBLISHER_FUNCTION)
            for ride in learner.values():
                ctx.call_learner(complete_ride, dict(ride))
        except Fail as failure:
            publisher_failure = str(failure)

        urls = {name: setup.queue_urls[name] for name in (*SUBSCRIBER_QUEUES, DLQ) if name in setup.queue_urls}
        urls[TAP] = tap_url
        should_arrive = _expected_arrivals(setup, direct, learner if publisher_failure is None else {})
        reads = collect_probes(
            sqs,
            urls,
            ctx.run_id,
            "rideId",
            expected=lambda reads: all(
                ride_id in reads[queue].deliveries for queue, ids in should_arrive.items() for ride_id in ids
            ),
            grace=ctx.delivery_grace,
            private={TAP},  # our own tap: other runs' probes in it are nobody's
        )
    finally:
        sns.unsubscribe(SubscriptionArn=tap_sub)
        sqs.delete_queue(QueueUrl=tap_url)
    return Probe(direct, learner, publisher_failure, reads)


def sweep_stale_taps(ctx: CheckContext) -> None:
    """Remove the tap queue and subscription of a check that was killed or timed out mid-probe
    (created more than a minute ago by another run), so an interrupted check leaves no trace."""
    sns, sqs = ctx.client("sns"), ctx.client("sqs")
    stale = [url for url in stale_probe_queues(sqs, ctx.run_id)
             if re.fullmatch(r"lab-probe-chk-[0-9a-f]+", url.rsplit("/", 1)[-1])]  # taps only, not other labs' probes
    if not stale:
        return
    arns = {queue_arn(sqs, url): url for url in stale}
    for sub in _all_subscriptions(sns):
        if sub.get("Endpoint") in arns and sub["SubscriptionArn"].startswith("arn:"):
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    for url in stale:
        sqs.delete_queue(QueueUrl=url)


def _expected_arrivals(setup: Setup, direct: dict, learner: dict) -> dict[str, set[str]]:
    everything = [*direct.values(), *learner.values()]
    expected = {TAP: {ride["rideId"] for ride in everything}}
    for queue in SUBSCRIBER_QUEUES:
        if setup.subscription(queue):
            rides = everything if queue != EXTRAORDINARY else [r for r in everything if r["fare"] >= EXTRAORDINARY_FARE]
            expected[queue] = {ride["rideId"] for ride in rides}
    return expected


# -- queue policies (the emulators deliver without them; AWS does not) -----------------
def check_queue_policy(ctx: CheckContext, setup: Setup, queue: str) -> None:
    attributes = queue_attributes(ctx.client("sqs"), setup.queue_urls[queue])
    document = attributes.get("Policy")
    wanted = (
        f"an Allow for sns.amazonaws.com to sqs:SendMessage on {queue} "
        f"with the condition aws:SourceArn = {setup.topic_arn}"
    )
    expect(document, f"{queue} has no queue policy, so real SNS could not deliver to it; expected {wanted}.")
    try:
        ours = policy.evaluate(document, _sns_send(setup, queue, setup.topic_arn, setup.account))
        stranger_topic = f"arn:aws:sns:{setup.region}:999999999999:{TOPIC}"
        strangers = policy.evaluate(document, _sns_send(setup, queue, stranger_topic, "999999999999"))
    except policy.PolicyError as problem:
        raise Fail(f"The queue policy on {queue} {problem}.") from None
    expect(ours.allowed, f"The queue policy on {queue} does not let {TOPIC} send ({ours.reason}); expected {wanted}.")
    expect(
        not strangers.allowed,
        f"The queue policy on {queue} lets any SNS topic send, even another account's ({strangers.reason}); "
        f"add the condition ArnEquals aws:SourceArn = {setup.topic_arn}.",
    )


def _sns_send(setup: Setup, queue: str, topic_arn: str, account: str) -> policy.Request:
    return policy.Request(
        action="sqs:SendMessage",
        resource=setup.queue_arns[queue],
        principal={"Service": "sns.amazonaws.com"},
        context={"aws:SourceArn": topic_arn, "aws:SourceAccount": account, "aws:SecureTransport": "true"},
    )


def require_subscription(setup: Setup, queue: str) -> dict:
    require_topic(setup)
    require_queue(setup, queue)
    subscription = setup.subscription(queue)
    if subscription is None:
        elsewhere = [s["TopicArn"].split(":")[-1] for s in setup.subscriptions.get(queue, [])]
        if elsewhere:
            raise Fail(f"{queue} is subscribed to {', '.join(elsewhere)}, not to {TOPIC}; subscribe it to {TOPIC}.")
        raise Fail(f"{queue} is not subscribed to {TOPIC}; expected an sqs subscription with the queue ARN as endpoint.")
    return subscription


def _fares(rides) -> str:
    return ", ".join(str(ride["fare"]) for ride in rides) or "none"


# -- tasks ---------------------------------------------------------------------------------
@checker.task("deploy-initial-resources")
def initial_resources(ctx: CheckContext) -> str:
    cloudformation = ctx.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    except cloudformation.exceptions.ClientError:
        raise Fail(f"Stack {STACK} is missing; run `lab start sns-fanout` to deploy it.") from None
    expect(stack["StackStatus"].endswith("COMPLETE") and "ROLLBACK" not in stack["StackStatus"],
           f"Stack {STACK} is {stack['StackStatus']}; expected CREATE_COMPLETE.")
    setup = ctx.fixture(read_setup)
    missing = [name for name in (*SUBSCRIBER_QUEUES, DLQ) if name not in setup.queue_urls]
    expect(not missing, f"Stack {STACK} exists but queue(s) {', '.join(missing)} are gone; run `lab start sns-fanout`.")
    return f"Stack {STACK} is {stack['StackStatus']} with the queues {', '.join((*SUBSCRIBER_QUEUES, DLQ))}."


@checker.task("create-topic")
def create_topic(ctx: CheckContext) -> str:
    setup = ctx.fixture(read_setup)
    if setup.topic_arn is None:
        others = [arn.split(":")[-1] for arn in _topics(ctx.client("sns"))]
        found = f" (found: {', '.join(others)})" if others else ""
        raise Fail(f"No SNS topic named {TOPIC}{found}; expected a standard topic named exactly {TOPIC}.")
    tags = ctx.client("sns").list_tags_for_resource(ResourceArn=setup.topic_arn).get("Tags", [])
    tag_map = {tag["Key"]: tag["Value"] for tag in tags}
    expect(
        tag_map.get("Project") == "rides",
        f"Topic {TOPIC} exists but is tagged {tag_map or 'with nothing'}; expected the tag Project=rides.",
    )
    return f"Standard topic {TOPIC} exists with the tag Project=rides."


@checker.task("notification-subscriber")
def notification_subscriber(ctx: CheckContext) -> str:
    setup = ctx.fixture(read_setup)
    subscription = require_subscription(setup, NOTIFICATION)
    attributes = subscription["Attributes"]
    expect(
        attributes.get("RawMessageDelivery") == "true",
        f"{NOTIFICATION} gets the SNS envelope; the notification service reads the bare ride JSON, "
        "so set RawMessageDelivery=true on its subscription.",
    )
    expect(
        not attributes.get("FilterPolicy"),
        f"{NOTIFICATION} has a filter policy ({attributes.get('FilterPolicy')}); every customer is notified "
        "of every ride, so remove it.",
    )
    check_queue_policy(ctx, setup, NOTIFICATION)
    probe = ctx.fixture(run_probe)
    rides = list(probe.direct.values())
    arrived = [r for r in rides if probe.arrived(NOTIFICATION, r)]
    expect(len(arrived) == len(rides),
           f"Published probe rides with fares {_fares(rides)}; {NOTIFICATION} received {_fares(arrived)}.")
    wrong_form = [r for r in arrived if probe.arrived(NOTIFICATION, r).form != "raw"]
    expect(not wrong_form, f"{NOTIFICATION} received the probe rides inside an SNS envelope; expected raw JSON.")
    return f"{NOTIFICATION} receives every ride as raw JSON ({len(rides)}/{len(rides)} probes), and its queue policy admits only {TOPIC}."


@checker.task("accounting-subscriber")
def accounting_subscriber(ctx: CheckContext) -> str:
    setup = ctx.fixture(read_setup)
    subscription = require_subscription(setup, ACCOUNTING)
    attributes = subscription["Attributes"]
    expect(
        attributes.get("RawMessageDelivery") != "true",
        f"{ACCOUNTING} has raw delivery on; accounting keeps the SNS envelope (MessageId, Timestamp, TopicArn) "
        "for its ledger, so set RawMessageDelivery=false.",
    )
    expect(not attributes.get("FilterPolicy"),
           f"{ACCOUNTING} has a filter policy; accounting must see every ride, so remove it.")
    require_queue(setup, DLQ)
    redrive = _json_attribute(attributes.get("RedrivePolicy"))
    expect(
        redrive.get("deadLetterTargetArn") == setup.queue_arns[DLQ],
        f"The {ACCOUNTING} subscription has no dead-letter queue "
        f"(RedrivePolicy is {attributes.get('RedrivePolicy') or 'unset'}); expected deadLetterTargetArn = {setup.queue_arns[DLQ]}.",
    )
    check_queue_policy(ctx, setup, ACCOUNTING)
    check_queue_policy(ctx, setup, DLQ)
    probe = ctx.fixture(run_probe)
    rides = list(probe.direct.values())
    arrived = [r for r in rides if probe.arrived(ACCOUNTING, r)]
    expect(len(arrived) == len(rides),
           f"Published probe rides with fares {_fares(rides)}; {ACCOUNTING} received {_fares(arrived)}.")
    for ride in arrived:
        delivery = probe.arrived(ACCOUNTING, ride)
        expect(delivery.form == "envelope", f"{ACCOUNTING} received a probe ride as raw JSON; expected the SNS envelope.")
        expect(delivery.envelope.get("TopicArn") == setup.topic_arn,
               f"{ACCOUNTING} received an envelope from {delivery.envelope.get('TopicArn')}; expected {setup.topic_arn}.")
    return f"{ACCOUNTING} receives every ride in the SNS envelope ({len(rides)}/{len(rides)} probes), with {DLQ} as its dead-letter queue."


@checker.task("extraordinary-subscriber")
def extraordinary_subscriber(ctx: CheckContext) -> str:
    setup = ctx.fixture(read_setup)
    subscription = require_subscription(setup, EXTRAORDINARY)
    attributes = subscription["Attributes"]
    filter_policy = attributes.get("FilterPolicy")
    expect(filter_policy, f"{EXTRAORDINARY} has no filter policy, so it would get every ride; "
                          f"expected one that keeps rides with fare >= {EXTRAORDINARY_FARE}.")
    check_queue_policy(ctx, setup, EXTRAORDINARY)
    probe = ctx.fixture(run_probe)
    rides = list(probe.direct.values())
    arrived = [r for r in rides if probe.arrived(EXTRAORDINARY, r)]
    wanted = [r for r in rides if r["fare"] >= EXTRAORDINARY_FARE]
    cheap = [r for r in arrived if r["fare"] < EXTRAORDINARY_FARE]
    expect(not cheap, f"Your filter {filter_policy} also let through the ride with fare {_fares(cheap)}; "
                      f"extraordinary rides are those with fare >= {EXTRAORDINARY_FARE}.")
    if not arrived:
        raise Fail(f"Published rides with fares {_fares(rides)} (fare as a Number message attribute); "
                   f"{EXTRAORDINARY} received none, expected {_fares(wanted)}. Your filter is {filter_policy}: "
                   "check the attribute name (it is case-sensitive) and the numeric condition.")
    missing = [r for r in wanted if r not in arrived]
    boundary = " Use \">=\" rather than \">\": a fare of exactly 50 is extraordinary." if any(
        r["fare"] == EXTRAORDINARY_FARE for r in missing) else ""
    expect(not missing, f"{EXTRAORDINARY} missed the ride with fare {_fares(missing)} (filter {filter_policy}).{boundary}")
    scope = attributes.get("FilterPolicyScope") or "MessageAttributes"
    wrong = sns_filter.mismatches(filter_policy, scope, lambda fare: probe_ride(ctx, "s", fare),
                                  lambda fare: fare >= EXTRAORDINARY_FARE, extra=DIRECT_FARES)
    if wrong:
        fare, matched = wrong[0]
        raise Fail(f"The probes arrived as expected, but your filter {filter_policy} would "
                   f"{'let through' if matched else 'drop'} a ride with fare {fare:g}; "
                   f"extraordinary rides are exactly those with fare >= {EXTRAORDINARY_FARE}.")
    return (f"{EXTRAORDINARY} receives only rides with fare >= {EXTRAORDINARY_FARE} (probes {_fares(arrived)} "
            f"of {_fares(rides)}, and every boundary of your filter; scope {scope}).")


@checker.task("publisher")
def publisher(ctx: CheckContext) -> str:
    probe = ctx.fixture(run_probe)
    if probe.publisher_failure:
        raise Fail(probe.publisher_failure)
    rides = list(probe.learner.values())
    seen = [r for r in rides if probe.arrived(TAP, r)]
    expect(seen, f"{PUBLISHER_FUNCTION}() returned, but nothing it sent reached the {TOPIC} topic; "
                 f"expected one message per ride on {TOPIC}.")
    expect(len(seen) == len(rides), f"Called {PUBLISHER_FUNCTION}() for fares {_fares(rides)}; only {_fares(seen)} reached {TOPIC}.")
    for ride in rides:
        delivery = probe.arrived(TAP, ride)
        expect(delivery.payload == ride, f"The message body is {json.dumps(delivery.payload)[:200]}; "
                                         "expected the ride dict, unchanged, as JSON.")
        fare = delivery.attributes.get("fare")
        expect(fare is not None, "The message has no `fare` message attribute, so the extraordinary-rides filter "
                                 "can never match; set fare as a Number message attribute.")
        expect(fare[0] == "Number", f"The `fare` message attribute has DataType {fare[0]}; "
                                    "numeric filters only match DataType Number.")
        expect(float(fare[1]) == float(ride["fare"]),
               f"The `fare` attribute says {fare[1]} but the ride's fare is {ride['fare']}.")
        for name, data_type in (("distanceKm", "Number"), ("rideType", "String")):
            got = delivery.attributes.get(name)
            expect(got is not None and got[0] == data_type,
                   f"The message lacks the `{name}` attribute as DataType {data_type} (got {got}); subscribers filter on it too.")
    return f"{PUBLISHER_FUNCTION}() publishes each ride as JSON to {TOPIC} with fare, distanceKm and rideType attributes."


@checker.task("validate-fanout")
def validate_fanout(ctx: CheckContext) -> str:
    setup = ctx.fixture(read_setup)
    require_topic(setup)
    probe = ctx.fixture(run_probe)
    if probe.publisher_failure:
        raise Fail(f"Fan-out is validated through your publisher, which failed: {probe.publisher_failure}")
    rides = list(probe.learner.values())
    big = [r for r in rides if r["fare"] >= EXTRAORDINARY_FARE]
    expected = {
        NOTIFICATION: (rides, "raw"),
        ACCOUNTING: (rides, "envelope"),
        EXTRAORDINARY: (big, None),
        DLQ: ([], None),
    }
    problems = []
    for queue, (wanted, form) in expected.items():
        got = [r for r in rides if probe.arrived(queue, r)]
        if got != wanted:
            problems.append(f"{queue} got fares {_fares(got)}, expected {_fares(wanted)}")
        elif form and any(probe.arrived(queue, r).form != form for r in got):
            problems.append(f"{queue} got them {'in an envelope' if form == 'raw' else 'raw'}, expected {form}")
    expect(not problems, f"Published rides with fares {_fares(rides)} through {PUBLISHER_FUNCTION}(): "
                         + "; ".join(problems) + ".")
    return (f"Fan-out holds end to end: fares {_fares(rides)} reached {NOTIFICATION} (raw) and {ACCOUNTING} (envelope), "
            f"only {_fares(big)} reached {EXTRAORDINARY}, and {DLQ} stayed empty.")


def _json_attribute(value: str | None) -> dict:
    try:
        parsed = json.loads(value) if value else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# -- lifecycle -------------------------------------------------------------------------
@checker.setup
def setup(ctx: CheckContext) -> None:
    cloudformation = ctx.client("cloudformation")
    try:
        status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    except cloudformation.exceptions.ClientError:
        status = None
    if status is None or "ROLLBACK" in status or "DELETE" in status:
        if status is not None:
            cloudformation.delete_stack(StackName=STACK)
        cloudformation.create_stack(StackName=STACK, TemplateBody=ctx.lab_file("template.yaml").read_text(),
                                    Tags=[{"Key": "Project", "Value": "rides"}])
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=STACK, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


@checker.solve
def solve(ctx: CheckContext) -> None:
    """The reference solution, as the README's commands would build it."""
    sns, sqs = ctx.client("sns"), ctx.client("sqs")
    topic_arn = sns.create_topic(Name=TOPIC, Tags=[{"Key": "Project", "Value": "rides"}])["TopicArn"]
    arns = {name: queue_arn(sqs, queue_url(sqs, name)) for name in (*SUBSCRIBER_QUEUES, DLQ)}
    for name in (*SUBSCRIBER_QUEUES, DLQ):
        sqs.set_queue_attributes(QueueUrl=queue_url(sqs, name), Attributes={"Policy": json.dumps(
            json.loads(ctx.lab_file("solution/queue-policy.json").read_text()
                       .replace("QUEUE_ARN", arns[name]).replace("TOPIC_ARN", topic_arn)))})
    subscriptions = {
        NOTIFICATION: {"RawMessageDelivery": "true"},
        ACCOUNTING: {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arns[DLQ]})},
        EXTRAORDINARY: {"FilterPolicy": json.dumps({"fare": [{"numeric": [">=", EXTRAORDINARY_FARE]}]})},
    }
    existing = {s["Endpoint"] for s in _all_subscriptions(sns) if s["TopicArn"] == topic_arn}
    for name, attributes in subscriptions.items():
        if arns[name] not in existing:
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arns[name],
                          Attributes=attributes, ReturnSubscriptionArn=True)


@checker.cleanup
def cleanup(ctx: CheckContext) -> None:
    """Remove the topic, its subscriptions and the stack (`lab reset sns-fanout`)."""
    sns, cloudformation = ctx.client("sns"), ctx.client("cloudformation")
    for arn in _topics(sns):
        if arn.split(":")[-1] == TOPIC:
            for sub in _all_subscriptions(sns):
                if sub["TopicArn"] == arn and sub["SubscriptionArn"] not in ("PendingConfirmation", "Deleted"):
                    sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
            sns.delete_topic(TopicArn=arn)
    sqs = ctx.client("sqs")
    for name in (*SUBSCRIBER_QUEUES, DLQ):
        url = queue_url(sqs, name)
        if url:
            sqs.delete_queue(QueueUrl=url)
    try:
        cloudformation.delete_stack(StackName=STACK)
    except cloudformation.exceptions.ClientError:
        pass


