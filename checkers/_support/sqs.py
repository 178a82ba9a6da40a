"""SQS helpers for behavioural probes that leave the learner's messages alone.

`collect_probes` reads queues until the expected probe messages have arrived
(or a grace period ends), deletes only messages that carry this check's run id,
and hands every other message back (visibility 0), so queue contents are as
they were. Probes of a concurrent check go back at once, so two checks never
starve each other. Their ApproximateReceiveCount does go up by one: SQS offers
no read that avoids it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Delivery:
    probe_id: str
    form: str  # "raw" or "envelope"
    payload: dict  # the ride / event as published
    attributes: dict  # message attributes as {name: (DataType, value)}
    envelope: dict | None = None


@dataclass
class QueueRead:
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    foreign_seen: int = 0


def queue_url(sqs, name: str) -> str | None:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return None


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def queue_attributes(sqs, url: str) -> dict:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


PROBE_PREFIX = "chk-"  # every check run's id starts with it (labkit.checks.CheckContext.run_id)


def decode(message: dict, probe_key: str) -> Delivery | None:
    """A Delivery when the message is a probe of any check run (raw or in an SNS envelope)."""
    try:
        body = json.loads(message["Body"])
    except (TypeError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    envelope = None
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        envelope = body
        try:
            body = json.loads(envelope["Message"])
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        attributes = {
            name: (value.get("Type"), value.get("Value"))
            for name, value in (envelope.get("MessageAttributes") or {}).items()
        }
    else:
        attributes = {
            name: (value.get("DataType"), value.get("StringValue"))
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
    probe_id = str(body.get(probe_key, ""))
    if not probe_id.startswith(PROBE_PREFIX):
        return None
    return Delivery(probe_id, "envelope" if envelope else "raw", body, attributes, envelope)


def collect_probes(
    sqs,
    urls: dict[str, str],
    run_id: str,
    probe_key: str,
    expected: Callable[[dict[str, QueueRead]], bool],
    grace: float,
    hold_seconds: int = 10,
) -> dict[str, QueueRead]:
    """Read every queue in `urls` ({name: url}) until `expected(reads)` is true and one
    more sweep finds nothing new, or until `grace` seconds pass with nothing new."""
    reads = {name: QueueRead() for name in urls}
    held: dict[str, list[str]] = {name: [] for name in urls}
    last_news = time.monotonic()
    settled_sweeps = 0
    try:
        while True:
            news = False
            for name, url in urls.items():
                response = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=hold_seconds,
                    WaitTimeSeconds=0,
                    MessageAttributeNames=["All"],
                )
                mine, theirs = [], []
                for message in response.get("Messages", []):
                    delivery = decode(message, probe_key)
                    if delivery is None:  # the learner's: held until we are done, then handed back
                        held[name].append(message["ReceiptHandle"])
                        reads[name].foreign_seen += 1
                    elif not delivery.probe_id.startswith(run_id):  # a concurrent check's: back at once
                        theirs.append(message["ReceiptHandle"])
                    else:
                        reads[name].deliveries[delivery.probe_id] = delivery
                        mine.append(message["ReceiptHandle"])
                        news = True
                _delete(sqs, url, mine)
                _release(sqs, url, theirs)
            if news:
                last_news, settled_sweeps = time.monotonic(), 0
                continue
            settled_sweeps += 1
            if expected(reads) and settled_sweeps >= 2:
                return reads
            if time.monotonic() - last_news > grace:
                return reads
            time.sleep(0.02)
    finally:
        for name, handles in held.items():
            _release(sqs, urls[name], handles)


def _batches(items: list, size: int = 10):
    for start in range(0, len(items), size):
        yield list(enumerate(items[start : start + size]))


def _delete(sqs, url: str, handles: list[str]) -> None:
    for batch in _batches(handles):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in batch])


def _release(sqs, url: str, handles: list[str]) -> None:
    # A handle may be stale if a long read outlived the hold; the message is visible again anyway.
    for batch in _batches(handles):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in batch],
        )
