"""Data access for the ride tables (reference solution).

Run it against the emulator after `eval "$(lab env)"`:

    python rides_repo.py load "$(lab show dynamodb-gsi --path)/data/rides.json" [TABLE]
    python rides_repo.py get R-0042
    python rides_repo.py complete R-0194 4.50
    python rides_repo.py rider alice 2025-11-01T00:00:00Z 2025-11-30T23:59:59Z
    python rides_repo.py city Seattle 2025-12-01T00:00:00Z
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

TABLE_NAME = "Rides"
RIDER_TABLE_NAME = "RiderRides"
CITY_INDEX = "CityTime-index"

dynamodb = boto3.resource("dynamodb")


def load_rides(path: str, table_name: str = TABLE_NAME) -> int:
    """Write every ride in the JSON file at `path` to `table_name`; return how many."""
    with open(path, encoding="utf-8") as file:
        rides = json.load(file, parse_float=Decimal)  # DynamoDB numbers are Decimal, never float
    # batch_writer() sends BatchWriteItem requests of 25 and resends UnprocessedItems.
    with dynamodb.Table(table_name).batch_writer() as batch:
        for ride in rides:
            batch.put_item(Item=ride)
    return len(rides)


def get_ride(ride_id: str) -> dict | None:
    """The ride with this id, read with a strongly consistent read; None if there is none."""
    response = dynamodb.Table(TABLE_NAME).get_item(Key={"RideId": ride_id}, ConsistentRead=True)
    return response.get("Item")


def complete_ride(ride_id: str, tip: Decimal) -> dict | None:
    """Mark an IN_PROGRESS ride COMPLETED and add `tip` to its Fare, in one conditional update.

    Returns the updated ride, or None when the ride is not IN_PROGRESS (or does not exist).
    """
    try:
        response = dynamodb.Table(TABLE_NAME).update_item(
            Key={"RideId": ride_id},
            UpdateExpression="SET #status = :completed, Fare = Fare + :tip",
            ConditionExpression="#status = :in_progress",
            ExpressionAttributeNames={"#status": "Status"},  # Status is a reserved word
            ExpressionAttributeValues={
                ":completed": "COMPLETED",
                ":in_progress": "IN_PROGRESS",
                ":tip": Decimal(str(tip)),
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    return response["Attributes"]


def _query_all(table, **kwargs) -> list[dict]:
    """Every page of a Query: repeat it from LastEvaluatedKey until there is none."""
    items = []
    while True:
        page = table.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def rides_for_rider(rider_id: str, start: str, end: str) -> list[dict]:
    """The rider's rides requested between start and end (inclusive), oldest first."""
    return _query_all(
        dynamodb.Table(RIDER_TABLE_NAME),
        KeyConditionExpression=Key("RiderId").eq(rider_id) & Key("RequestTime").between(start, end),
    )


def rides_in_city(city: str, since: str, page_size: int = 10) -> list[dict]:
    """The city's rides requested at or after `since`, newest first, fetched page_size at a time."""
    return _query_all(
        dynamodb.Table(TABLE_NAME),
        IndexName=CITY_INDEX,
        KeyConditionExpression=Key("City").eq(city) & Key("RequestTime").gte(since),
        ScanIndexForward=False,
        Limit=page_size,
    )


def _main(argv: list[str]) -> None:
    commands = {
        "load": lambda path, table=TABLE_NAME: f"loaded {load_rides(path, table)} rides into {table}",
        "get": get_ride,
        "complete": lambda ride_id, tip: complete_ride(ride_id, Decimal(tip)),
        "rider": rides_for_rider,
        "city": rides_in_city,
    }
    if not argv or argv[0] not in commands:
        sys.exit(__doc__)
    result = commands[argv[0]](*argv[1:])
    print(result if isinstance(result, str) else json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    _main(sys.argv[1:])
