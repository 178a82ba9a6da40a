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
from typing import Callable, Collection


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
    # Reading stopped before the end of a long queue (READ_BUDGET_SECONDS): a probe not
    # found there may be behind the learner's messages, so its absence proves nothing.
    truncated: bool = False


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
    except (TypeError, ValueError, RecursionError):  # RecursionError: a hostile "[[[[..." body
        return None
    if not isinstance(body, dict):
        return None
    envelope = None
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        envelope = body
        try:
            body = json.loads(envelope["Message"])
        except (ValueError, RecursionError):
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


STALE_PROBE_SECONDS = 60  # another run's probe older than this was left by an interrupted check
HOLD_SECONDS = 10  # how long learner messages stay invisible while a check reads past them
SECONDS_PER_HELD_MESSAGE = 0.02  # a long queue is held longer, so one read gets through it all
MAX_HOLD_SECONDS = 120
# Reading past the learner's messages stops after this long (and marks the queue truncated):
# ministack scans the whole queue on every receive, so 10 000 messages would take longer
# than a task may.
READ_BUDGET_SECONDS = 6.0
# Concurrent checks' probes can sit ahead of ours in a shared queue until their owners take
# them: with other runs about, wait this long for deliveries rather than the bare grace.
CONTENDED_GRACE = 5.0


def collect_probes(
    sqs,
    urls: dict[str, str],
    run_id: str,
    probe_key: str,
    expected: Callable[[dict[str, QueueRead]], bool],
    grace: float,
    hold_seconds: int = HOLD_SECONDS,
    private: Collection[str] = (),
    read_budget: float = READ_BUDGET_SECONDS,
) -> dict[str, QueueRead]:
    """Read every queue in `urls` ({name: url}) until `expected(reads)` is true and one
    more sweep finds nothing new, or until `grace` seconds pass with nothing new.

    Learner messages are held (invisible) while the check reads past them, and a sweep
    that still turns up learner messages it had not seen counts as progress: a queue
    with thousands of them is read to its end before the grace period starts. A queue
    that holds more than a batch is held longer (from its depth), so the messages read
    first do not come back before the end. `private` names queues only this run reads
    (its own tap): another run's probe there is deleted, since no one else would ever
    take it. Another run's probe older than STALE_PROBE_SECONDS is deleted anywhere:
    it was left by a check that was killed or timed out. A queue still yielding learner
    messages after `read_budget` seconds is left `truncated`."""
    reads = {name: QueueRead() for name in urls}
    held: dict[str, list[str]] = {name: [] for name in urls}
    holds = {name: hold_seconds for name in urls}
    seen: set[str] = set()
    sized: set[str] = set()  # queues whose depth set their hold
    contended = False  # another run's probes are about: give deliveries longer
    last_news = time.monotonic()
    dig_until = last_news + read_budget
    settled_sweeps = 0

    def read_batch(name: str, url: str) -> tuple[bool, bool, bool]:
        """One receive: (found a probe of ours, read a full batch of unseen learner messages, saw another run's probe)."""
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=holds[name],
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=["SentTimestamp"],
        )
        news = fresh = other = False
        mine, theirs, messages = [], [], response.get("Messages", [])
        for message in messages:
            delivery = decode(message, probe_key)
            if delivery is None:  # the learner's: held until we are done, then handed back
                held[name].append(message["ReceiptHandle"])
                if message.get("MessageId") not in seen:
                    seen.add(message.get("MessageId"))
                    reads[name].foreign_seen += 1
                    fresh = True
            elif delivery.probe_id.startswith(run_id):
                reads[name].deliveries[delivery.probe_id] = delivery
                mine.append(message["ReceiptHandle"])
                news = True
            elif name in private or _stale(message):  # no one else will ever take it
                mine.append(message["ReceiptHandle"])
                other = other or name in private  # concurrent checks are about: be patient
            else:  # a concurrent check's: back at once
                theirs.append(message["ReceiptHandle"])
                other = True
        _delete(sqs, url, mine)
        _release(sqs, url, theirs)
        if reads[name].foreign_seen >= 10 and name not in sized:
            sized.add(name)
            holds[name] = _hold_for(sqs, url, hold_seconds)
        # A full batch with unseen learner messages: a long queue still being read (a trickle
        # from a learner's own publisher is not, and must not keep the check here).
        return news, fresh and len(messages) >= 10, other

    try:
        while True:
            news = False
            for name, url in urls.items():
                if reads[name].truncated:
                    continue
                while True:  # read a long queue to its end before moving on
                    found, digging, other = read_batch(name, url)
                    news |= found or digging
                    contended |= other
                    if not digging:
                        break
                    if time.monotonic() > dig_until:
                        reads[name].truncated = True
                        break
            if news:
                last_news, settled_sweeps = time.monotonic(), 0
                continue
            settled_sweeps += 1
            if expected(reads) and settled_sweeps >= 2:
                return reads
            patience = max(grace, CONTENDED_GRACE) if contended else grace
            if time.monotonic() - last_news > patience:
                return reads
            time.sleep(0.02)
    finally:
        for name, handles in held.items():
            _release(sqs, urls[name], handles)


def stale_probe_queues(sqs, run_id: str, prefix: str = "lab-probe-chk-", older_than: float | None = None) -> list[str]:
    """URLs of other runs' probe queues created more than `older_than` seconds (default
    STALE_PROBE_SECONDS) ago: what a check that was killed or timed out mid-probe left behind
    (a live check's are younger)."""
    older_than = STALE_PROBE_SECONDS if older_than is None else older_than
    stale = []
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        if url.rsplit("/", 1)[-1].startswith(f"lab-probe-{run_id}"):
            continue
        try:
            created = float(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["CreatedTimestamp"])
                            ["Attributes"]["CreatedTimestamp"])
        except (KeyError, TypeError, ValueError, sqs.exceptions.QueueDoesNotExist):
            continue
        if time.time() - created > older_than:
            stale.append(url)
    return stale


def _stale(message: dict) -> bool:
    try:
        sent = float((message.get("Attributes") or {})["SentTimestamp"]) / 1000
    except (KeyError, TypeError, ValueError):
        return False
    return time.time() - sent > STALE_PROBE_SECONDS


def _hold_for(sqs, url: str, base: int) -> int:
    """A hold long enough to read the whole queue once (it only grows with a long queue)."""
    try:
        depth = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                    ["Attributes"]["ApproximateNumberOfMessages"])
    except (KeyError, TypeError, ValueError):
        return base
    return int(min(MAX_HOLD_SECONDS, max(base, base + depth * SECONDS_PER_HELD_MESSAGE)))


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
