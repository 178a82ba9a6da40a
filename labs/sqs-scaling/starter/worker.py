"""The ride-jobs worker: every instance of the ride-workers group runs this loop.

A job is a JSON message such as {"jobId": "job-42", "seconds": 2}. Your task
("Build a worker that receives, processes and deletes jobs"): write
process_batch(). The rest of the file is done.

Run it against the emulator after `eval "$(lab env)"`:

    python worker.py            # work until the queue is empty
    python worker.py --forever  # keep polling, as an instance would
"""

import json
import sys
import time

import boto3

QUEUE_NAME = "ride-jobs"


def handle_job(job: dict) -> None:
    """Process one job: here, pretend to work for job["seconds"]. Raises when the job cannot be done."""
    if job.get("fail"):
        raise RuntimeError(f"job {job.get('jobId')} cannot be processed")
    time.sleep(float(job.get("seconds", 0)))


def process_batch(queue_url: str, handler=handle_job) -> int:
    """Receive one batch from `queue_url`, process it, and return how many jobs succeeded.

    - Make exactly one receive_message call: up to 10 messages. Leave out WaitTimeSeconds
      and VisibilityTimeout: the queue's own settings (long polling, 60 s) apply.
    - For each message, parse the body with json.loads and call handler(job).
    - Delete a message only AFTER handler(job) has returned: if the worker deleted first,
      a job whose processing fails (or whose worker dies mid-job) would be lost.
    - If the body is not JSON, or handler(job) raises, do not delete the message and go on
      with the next one: SQS delivers it again once the visibility timeout ends, and after
      maxReceiveCount receives moves it to the dead-letter queue ride-jobs-dlq.
    """
    raise NotImplementedError("receive, process, then delete")


def main(argv: list[str]) -> None:
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
