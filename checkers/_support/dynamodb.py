"""DynamoDB helpers for checkers: table reads, batch writes and item comparison.

(What learner code sends to DynamoDB is recorded by `ctx.run_learner`, see labkit/recording.py.)
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Iterator

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

BATCH_LIMIT = 25  # BatchWriteItem's maximum number of requests per call
TYPE_KEYS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


# -- tables ---------------------------------------------------------------------
def describe(client, table: str) -> dict | None:
    """describe_table's Table, or None when there is no such table."""
    try:
        return client.describe_table(TableName=table)["Table"]
    except client.exceptions.ResourceNotFoundException:
        return None


def key_names(key_schema: list[dict]) -> tuple[str | None, str | None]:
    """(partition key, sort key) attribute names of a table's or index's KeySchema."""
    by_type = {element["KeyType"]: element["AttributeName"] for element in key_schema or []}
    return by_type.get("HASH"), by_type.get("RANGE")


def attribute_types(table: dict) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in table.get("AttributeDefinitions", [])}


def billing_mode(table: dict) -> str:
    """PAY_PER_REQUEST or PROVISIONED (AWS omits the summary for tables created provisioned)."""
    return (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"


def find_index(table: dict, name: str) -> dict | None:
    return next((i for i in table.get("GlobalSecondaryIndexes") or [] if i["IndexName"] == name), None)


def index_names(table: dict) -> list[str]:
    return [i["IndexName"] for i in table.get("GlobalSecondaryIndexes") or []]


def wait_active(client, table: str, index: str | None = None, timeout: float = 60) -> None:
    """Wait until the table (and the index, if named) is ACTIVE."""
    deadline = time.monotonic() + timeout
    while True:
        description = describe(client, table) or {}
        ready = description.get("TableStatus") == "ACTIVE"
        if ready and index:
            ready = (find_index(description, index) or {}).get("IndexStatus") == "ACTIVE"
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table}{' / ' + index if index else ''} did not become ACTIVE in {timeout:g} s")
        time.sleep(0.1)


# -- items ----------------------------------------------------------------------
def to_dynamodb(item: dict) -> dict:
    """A plain item (str, int, Decimal, float) as DynamoDB JSON."""
    return {name: _serializer.serialize(_decimal(value)) for name, value in item.items()}


def from_dynamodb(item: dict) -> dict:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def plain(item: Any) -> Any:
    """An item as learner code may return it (resource-style or DynamoDB JSON) as a plain dict.

    Numbers become Decimal (so 24.5, Decimal("24.50") and {"N": "24.5"} compare equal).
    Anything that is not a dict is returned unchanged.
    """
    if not isinstance(item, dict):
        return item
    typed = item and all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in TYPE_KEYS for v in item.values())
    if typed:
        item = from_dynamodb(item)
    return {name: _decimal(value) for name, value in item.items()}


def _decimal(value: Any) -> Any:
    # Not normalize(): Decimal("20.00") would become 2E+1, which moto cannot add to.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _chunks(values: list, size: int = BATCH_LIMIT) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def batch_write(client, table: str, requests: list[dict], attempts: int = 5) -> None:
    """BatchWriteItem in chunks of 25, resending UnprocessedItems."""
    for chunk in _chunks(requests):
        pending = {table: chunk}
        for attempt in range(attempts):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(0.05 * (attempt + 1))
        if pending:
            raise RuntimeError(f"BatchWriteItem left {len(pending[table])} item(s) unprocessed in {table}")


def put_items(client, table: str, items: list[dict]) -> None:
    batch_write(client, table, [{"PutRequest": {"Item": to_dynamodb(item)}} for item in items])


def delete_keys(client, table: str, keys: list[dict]) -> None:
    batch_write(client, table, [{"DeleteRequest": {"Key": to_dynamodb(key)}} for key in keys])


def scan_all(client, table: str, **kwargs) -> list[dict]:
    """Every item of a table (plain dicts), following LastEvaluatedKey."""
    items, start = [], {}
    while True:
        page = client.scan(TableName=table, **kwargs, **start)
        items += [from_dynamodb(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def query_all(client, table: str, **kwargs) -> list[dict]:
    """Every item a Query returns (plain dicts), following LastEvaluatedKey."""
    items, start = [], {}
    while True:
        page = client.query(TableName=table, **kwargs, **start)
        items += [from_dynamodb(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
