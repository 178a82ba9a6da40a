"""Data access for the ride tables: the Python side of the dynamodb-gsi lab.

`lab check` imports this module and calls its functions against the emulator
with probe rides of its own (ids starting `chk-`, removed again afterwards),
and records which DynamoDB requests they make. Replace each
NotImplementedError with the real thing; the README shows how, step by step.

Conventions:
- Return rides as plain dicts (what boto3's resource API gives you: numbers are
  Decimal). Low-level client items ({"S": ...}) are accepted too.
- Times are ISO-8601 strings such as 2025-11-03T08:15:00Z: they sort as text.

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
from boto3.dynamodb.conditions import Key  # noqa: F401 - you will want it for the queries
from botocore.exceptions import ClientError  # noqa: F401 - and this for the conditional update

TABLE_NAME = "Rides"
RIDER_TABLE_NAME = "RiderRides"
CITY_INDEX = "CityTime-index"

dynamodb = boto3.resource("dynamodb")


def load_rides(path: str, table_name: str = TABLE_NAME) -> int:
    """Write every ride in the JSON file at `path` to `table_name`; return how many.

    Task "Batch-load the ride dataset" (not called by `lab check`, which looks at
    the tables instead; the CLI route in the README works just as well).
    - Read the file with json.load(file, parse_float=Decimal): DynamoDB numbers are Decimal.
    - BatchWriteItem takes at most 25 puts per request and may hand some back
      in UnprocessedItems; dynamodb.Table(name).batch_writer() deals with both.
    """
    raise NotImplementedError("batch-write the rides in the file to the table")


def get_ride(ride_id: str) -> dict | None:
    """The ride with this id, or None if there is none.

    Task "Read one ride with a strongly consistent read": read it by its key
    (GetItem), with ConsistentRead=True, and return the whole item.
    """
    raise NotImplementedError("read the ride by its key with a strongly consistent GetItem")


def complete_ride(ride_id: str, tip: Decimal) -> dict | None:
    """Mark an IN_PROGRESS ride COMPLETED and add `tip` to its Fare.

    Task "Update a ride with a conditional expression":
    - one UpdateItem: SET Status = COMPLETED, Fare = Fare + tip;
    - only while the ride's Status is IN_PROGRESS (a ConditionExpression), so a
      second call, or a call for a cancelled or unknown ride, changes nothing;
    - return the updated ride (ReturnValues="ALL_NEW"), or None when the
      condition failed (catch the ConditionalCheckFailedException).
    Status is a DynamoDB reserved word: refer to it through ExpressionAttributeNames.
    """
    raise NotImplementedError("update the ride with a condition on its Status")


def rides_for_rider(rider_id: str, start: str, end: str) -> list[dict]:
    """The rider's rides requested between start and end (both included), oldest first.

    Task "Query table data on a composite-key table": Query RiderRides (partition
    key RiderId, sort key RequestTime) with one KeyConditionExpression covering
    both keys, and follow LastEvaluatedKey if there is more than one page.
    """
    raise NotImplementedError("query RiderRides by RiderId and a RequestTime range")


def rides_in_city(city: str, since: str, page_size: int = 10) -> list[dict]:
    """The city's rides requested at or after `since`, newest first.

    Task "Query the GSI newest-first with pagination": Query CityTime-index
    (partition key City, sort key RequestTime) with ScanIndexForward=False and
    Limit=page_size, and keep asking for the next page (ExclusiveStartKey =
    the previous page's LastEvaluatedKey) until there is none. Return every ride.
    """
    raise NotImplementedError("query CityTime-index newest first, page by page")


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
