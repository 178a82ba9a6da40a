"""Flood ride-jobs with test jobs, for step 7 of the guide ("Validate scaling by flooding the queue").

    python enqueue_jobs.py 150     # 150 jobs of 0 s each
    python enqueue_jobs.py 5 --fail  # 5 jobs that always fail: watch them reach ride-jobs-dlq
"""

import json
import sys
import uuid

import boto3

QUEUE_NAME = "ride-jobs"


def enqueue(count: int, fail: bool = False) -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    batch = uuid.uuid4().hex[:6]
    for start in range(0, count, 10):
        entries = [{"Id": str(n), "MessageBody": json.dumps({"jobId": f"job-{batch}-{start + n}", "seconds": 0,
                                                             **({"fail": True} if fail else {})})}
                   for n in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    print(f"sent {count} job(s); {QUEUE_NAME} now holds {depth['Attributes']['ApproximateNumberOfMessages']} visible")


if __name__ == "__main__":
    enqueue(int(sys.argv[1]) if len(sys.argv) > 1 else 150, fail="--fail" in sys.argv)
