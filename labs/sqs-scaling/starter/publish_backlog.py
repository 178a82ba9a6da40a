"""Publish the ride-jobs backlog as custom CloudWatch metrics.

On AWS, SQS already publishes ApproximateNumberOfMessagesVisible to the
AWS/SQS namespace. What it cannot know is how many workers share that
backlog, and a fleet is sized by the backlog *per instance*. Your task
("Publish the queue backlog as custom metrics"): publish both numbers for a
queue and an Auto Scaling group.

Run it against the emulator after `eval "$(lab env)"`:

    python publish_backlog.py             # publish once for ride-jobs / ride-workers
    python publish_backlog.py --every 60  # keep publishing once a minute (Ctrl-C stops)
"""

import sys
import time

import boto3

NAMESPACE = "RideWorkers"
QUEUE_NAME = "ride-jobs"
GROUP_NAME = "ride-workers"


def publish_backlog(queue_url: str, asg_name: str) -> dict:
    """Publish the backlog of `queue_url` for the group `asg_name`; return what was published.

    - visible: the queue's ApproximateNumberOfMessages attribute (sqs.get_queue_attributes);
      CloudWatch calls the same number ApproximateNumberOfMessagesVisible.
    - in_service: how many instances of the group are in LifecycleState "InService"
      (autoscaling.describe_auto_scaling_groups).
    - backlog_per_instance: visible / in_service; an empty fleet counts as one instance.

    Put two datapoints in namespace RideWorkers, each with exactly one dimension,
    QueueName = the queue's name (the last part of queue_url), Unit Count, no Timestamp:
      ApproximateNumberOfMessagesVisible = visible
      BacklogPerInstance = backlog_per_instance

    Return {"visible": ..., "in_service": ..., "backlog_per_instance": ...}.
    """
    raise NotImplementedError("read the backlog and the fleet size, then put_metric_data")


def main(argv: list[str]) -> None:
    every = float(argv[argv.index("--every") + 1]) if "--every" in argv else 0
    url = boto3.client("sqs").get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    while True:
        print(publish_backlog(url, GROUP_NAME), flush=True)
        if not every:
            return
        time.sleep(every)


if __name__ == "__main__":
    main(sys.argv[1:])
