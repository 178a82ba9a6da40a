"""Publish the ride-jobs backlog as custom CloudWatch metrics (reference solution)."""

import sys
import time

import boto3

NAMESPACE = "RideWorkers"
QUEUE_NAME = "ride-jobs"
GROUP_NAME = "ride-workers"


def publish_backlog(queue_url: str, asg_name: str) -> dict:
    """Publish the backlog of `queue_url` for the group `asg_name`; return what was published."""
    sqs, autoscaling, cloudwatch = boto3.client("sqs"), boto3.client("autoscaling"), boto3.client("cloudwatch")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    visible = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"]
    instances = groups[0]["Instances"] if groups else []
    in_service = sum(instance["LifecycleState"] == "InService" for instance in instances)
    backlog_per_instance = visible / max(in_service, 1)
    dimensions = [{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}]
    cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": dimensions, "Value": visible, "Unit": "Count"},
        {"MetricName": "BacklogPerInstance", "Dimensions": dimensions, "Value": backlog_per_instance, "Unit": "Count"},
    ])
    return {"visible": visible, "in_service": in_service, "backlog_per_instance": backlog_per_instance}


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
