"""The ride management service.

When a ride ends, the service calls complete_ride(ride). Your task
("Update the main management service so it publishes to the SNS topic"):
publish the ride to the RideCompleted topic so every subscriber hears of it.

Run it against the emulator after `eval "$(lab env)"`:

    python ride_service.py
"""

import json

import boto3

TOPIC_NAME = "RideCompleted"


def complete_ride(ride: dict) -> str:
    """Publish `ride` to the RideCompleted topic and return the SNS MessageId.

    - The message body is the ride dict as JSON, unchanged.
    - Subscribers filter on message attributes, so set three of them:
      fare (DataType Number), distanceKm (Number) and rideType (String).
    """
    raise NotImplementedError("publish the ride to the RideCompleted topic")


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
