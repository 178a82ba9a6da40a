"""DynamoDB helpers for checkers: table reads, batch writes, item comparison, and
a recorder of the DynamoDB calls that learner code makes.

`recording_calls()` is how a check sees *how* learner code talks to DynamoDB,
not just what it returns: every request the current thread makes (operation,
parameters, and the response's Count / ScannedCount or the error code) while
the block runs. It works whatever client the learner made and whenever they
made it (module level or per call, low-level client, resource or paginator),
because all of them end in `BaseClient._make_api_call`. Calls from other
threads and other services pass straight through.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.client import BaseClient
from botocore.exceptions import ClientError

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


# -- what learner code sends --------------------------------------------------------
@dataclass
class Call:
    """One request learner code made, and what came back."""

    operation: str  # "Query", "Scan", "GetItem", ...
    params: dict  # as the code passed them (resource-style values are not serialised yet)
    count: int | None = None
    scanned_count: int | None = None
    last_evaluated_key: bool = False
    error: str | None = None  # the error code when the call failed

    @property
    def table(self) -> str | None:
        return self.params.get("TableName")

    @property
    def index(self) -> str | None:
        return self.params.get("IndexName")


@dataclass
class CallLog:
    service: str
    calls: list[Call] = field(default_factory=list)

    def __iter__(self):
        return iter(self.calls)

    def __len__(self):
        return len(self.calls)

    def of(self, *operations: str) -> list[Call]:
        return [call for call in self.calls if call.operation in operations]

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]


_recording = threading.local()
_install_lock = threading.Lock()
_original_make_api_call: Callable | None = None


def _recording_make_api_call(self, operation_name, api_params):
    log = getattr(_recording, "log", None)
    if log is None or self.meta.service_model.service_name != log.service:
        return _original_make_api_call(self, operation_name, api_params)
    call = Call(operation_name, dict(api_params))
    log.calls.append(call)
    try:
        response = _original_make_api_call(self, operation_name, api_params)
    except ClientError as error:
        call.error = error.response.get("Error", {}).get("Code") or "ClientError"
        raise
    call.count, call.scanned_count = response.get("Count"), response.get("ScannedCount")
    call.last_evaluated_key = "LastEvaluatedKey" in response
    return response


def _install() -> None:
    # Installed once, for good: a pass-through unless the calling thread is recording.
    global _original_make_api_call
    with _install_lock:
        if _original_make_api_call is None:
            _original_make_api_call = BaseClient._make_api_call
            BaseClient._make_api_call = _recording_make_api_call


@contextlib.contextmanager
def recording_calls(service: str = "dynamodb") -> Iterator[CallLog]:
    """Record `service` calls made by this thread inside the block (nesting restores the outer log)."""
    _install()
    log = CallLog(service)
    outer = getattr(_recording, "log", None)
    _recording.log = log
    try:
        yield log
    finally:
        _recording.log = outer
