"""The ride-jobs worker (reference solution): every instance of the ride-workers group runs this loop."""

import json
import logging
import sys
import time

import boto3

QUEUE_NAME = "ride-jobs"
log = logging.getLogger("worker")


def handle_job(job: dict) -> None:
    """Process one job: here, pretend to work for job["seconds"]. Raises when the job cannot be done."""
    if job.get("fail"):
        raise RuntimeError(f"job {job.get('jobId')} cannot be processed")
    time.sleep(float(job.get("seconds", 0)))


def process_batch(queue_url: str, handler=handle_job) -> int:
    """Receive one batch from `queue_url`, process it, and return how many jobs succeeded."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    done = 0
    for message in messages:
        try:
            job = json.loads(message["Body"])
            handler(job)
        except Exception as error:  # noqa: BLE001 - leave the message: SQS retries it, then redrives it to the DLQ
            log.info("left message %s for a retry: %s: %s", message["MessageId"], type(error).__name__, error)
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        done += 1
    return done


def main(argv: list[str]) -> None:
    logging.basicConfig(format="%(message)s")
    log.setLevel(logging.INFO)
    url = boto3.client("sqs").get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    forever = "--forever" in argv
    total = 0
    while True:
        before = total
        total += process_batch(url)
        print(f"processed {total} job(s)", flush=True)
        if total == before and not forever:
            return


if __name__ == "__main__":
    main(sys.argv[1:])
