"""The ride management service (reference solution)."""

import json

import boto3

TOPIC_NAME = "RideCompleted"


def topic_arn(sns) -> str:
    """Find the topic by name (list_topics pages through every topic)."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].split(":")[-1] == TOPIC_NAME:
                return topic["TopicArn"]
    raise LookupError(f"no SNS topic named {TOPIC_NAME}")


def complete_ride(ride: dict) -> str:
    """Publish `ride` to the RideCompleted topic and return the SNS MessageId."""
    sns = boto3.client("sns")
    response = sns.publish(
        TopicArn=topic_arn(sns),
        Message=json.dumps(ride),
        MessageAttributes={
            "fare": {"DataType": "Number", "StringValue": str(ride["fare"])},
            "distanceKm": {"DataType": "Number", "StringValue": str(ride["distanceKm"])},
            "rideType": {"DataType": "String", "StringValue": ride.get("rideType", "standard")},
        },
    )
    return response["MessageId"]


if __name__ == "__main__":
    example = {
        "rideId": "ride-0001",
        "riderId": "alice",
        "driverId": "driver-7",
        "fare": 62.5,
        "distanceKm": 24.1,
        "durationMin": 38,
        "rideType": "premium",
        "completedAt": "2025-11-03T09:15:00Z",
    }
    print("published", complete_ride(example), json.dumps(example))
