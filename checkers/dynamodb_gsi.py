"""dynamodb-gsi: the Rides table, its data, a composite-key table and the CityTime-index GSI.

How it is graded:
- behaviour first: the checker writes probe rides (ids and cities carrying this
  run's id), reads them back through the index, calls the learner's
  `rides_repo` functions on them and on the shipped dataset, and compares what
  comes back with its own GetItem / Query; the conditional update is run on
  probes three ways (in progress, already completed, cancelled) plus an
  unknown id, and must change only the first;
- how the learner's code reads is observed too: every DynamoDB request it makes
  is recorded (operation, ConsistentRead, Limit, IndexName, Count, ScannedCount);
- configuration second: key schemas, billing mode, index status and projection.
Every probe is deleted before the check returns; the learner's rides are only read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal

from botocore.exceptions import ClientError

from checkers._support.dynamodb import (
    attribute_types,
    billing_mode,
    delete_keys,
    describe,
    find_index,
    from_dynamodb,
    index_names,
    key_names,
    plain,
    put_items,
    query_all,
    scan_all,
    to_dynamodb,
    wait_active,
)
from labkit.checks import Checker, CheckContext, Fail, LearnerRun, expect

checker = Checker("dynamodb-gsi")

RIDES, RIDER_RIDES, INDEX = "Rides", "RiderRides", "CityTime-index"
PROJECTED = ("Fare", "Status")  # the index's INCLUDE projection, besides the keys
DATASET = "data/rides.json"
REPO = "rides_repo.py"
RIDE_ATTRIBUTES = ("RiderId", "DriverId", "RequestTime", "City", "Status", "UnicornName")  # besides RideId, Fare
RIDER, MONTH_START, MONTH_END = "alice", "2025-11-01T00:00:00Z", "2025-11-30T23:59:59Z"
CITY, SINCE = "Seattle", "2025-12-01T00:00:00Z"
PROBE_SINCE, PROBE_PAGE = "2025-11-10T00:00:00Z", 2
TIP, PROBE_FARE = Decimal("4.50"), Decimal("20.00")
TYPE_NAMES = {"S": "a string (S)", "N": "a number (N)", "B": "binary (B)"}

# The reference design, used by solve() and by the tests' variants.
RIDES_TABLE = {
    "TableName": RIDES,
    "KeySchema": [{"AttributeName": "RideId", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "RideId", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
RIDER_RIDES_TABLE = {
    "TableName": RIDER_RIDES,
    "KeySchema": [{"AttributeName": "RiderId", "KeyType": "HASH"}, {"AttributeName": "RequestTime", "KeyType": "RANGE"}],
    "AttributeDefinitions": [{"AttributeName": "RiderId", "AttributeType": "S"},
                             {"AttributeName": "RequestTime", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
CITY_INDEX = {
    "IndexName": INDEX,
    "KeySchema": [{"AttributeName": "City", "KeyType": "HASH"}, {"AttributeName": "RequestTime", "KeyType": "RANGE"}],
    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(PROJECTED)},
}
CITY_INDEX_ATTRIBUTES = [{"AttributeName": "City", "AttributeType": "S"},
                         {"AttributeName": "RequestTime", "AttributeType": "S"}]


# -- what the emulator and the workspace hold --------------------------------------------
@dataclass
class Tables:
    rides: dict | None
    rider_rides: dict | None


def read_tables(ctx: CheckContext) -> Tables:
    ddb = ctx.client("dynamodb")
    return Tables(describe(ddb, RIDES), describe(ddb, RIDER_RIDES))


def dataset(ctx: CheckContext) -> list[dict]:
    return [plain(ride) for ride in json.loads(ctx.lab_file(DATASET).read_text(encoding="utf-8"), parse_float=Decimal)]


def require_rides(ctx: CheckContext) -> dict:
    table = ctx.fixture(read_tables).rides
    expect(table, f"There is no {RIDES} table yet; create it first (task create-table).")
    return table


def require_rider_rides(ctx: CheckContext) -> dict:
    table = ctx.fixture(read_tables).rider_rides
    expect(table, f"There is no {RIDER_RIDES} table yet; expected one with partition key RiderId and sort key "
                  f"RequestTime (both strings), loaded with {DATASET} (README step 5).")
    return table


def repo_module(ctx: CheckContext):
    return ctx.learner_module(REPO)


def learner_fn(ctx: CheckContext, name: str):
    fn = getattr(ctx.fixture(repo_module), name, None)
    expect(callable(fn), f"{REPO} has no function {name}(); expected one (the starter file has its outline).")
    return fn


def refused(run: LearnerRun) -> bool:
    """complete_ride() reported a failed condition: it returned None or let the exception out."""
    if run.failure is None:
        return run.result is None
    updates = run.requests.of("UpdateItem", "PutItem")
    return bool(updates) and updates[-1].error == "ConditionalCheckFailedException"


def run_learner(ctx: CheckContext, fn, *args) -> LearnerRun:
    return ctx.run_learner(fn, *args, services=("dynamodb",))


def ride_ids(rides) -> list:
    return [ride.get("RideId") if isinstance(ride, dict) else ride for ride in (plain(r) for r in rides or [])]


def returned_ids(name: str, outcome: LearnerRun) -> list:
    """The RideIds of the rides a learner function returned, or Fail if it did not return a list of rides."""
    if outcome.failure:
        raise Fail(outcome.failure)
    result = outcome.result
    if not isinstance(result, (list, tuple)) or not all(isinstance(ride, dict) for ride in result):
        raise Fail(f"{name}() returned {type(result).__name__ if result is not None else 'None'}; expected a list "
                   "of rides (dicts), e.g. the Items of every page put together.")
    return ride_ids(result)


def probe_ride(ctx: CheckContext, suffix: str, **values) -> dict:
    ride = {
        "RideId": f"{ctx.run_id}-{suffix}",
        "RiderId": "probe-rider",
        "DriverId": "D-999",
        "RequestTime": "2025-11-20T12:00:00Z",
        "City": "Probeville",
        "Fare": PROBE_FARE,
        "Status": "COMPLETED",
        "UnicornName": "Probe",
    }
    return {**ride, **values}


def put_probes(ctx: CheckContext, table: str, rides: list[dict]) -> None:
    """Write probe rides, or Fail saying why the table refused them."""
    try:
        put_items(ctx.client("dynamodb"), table, rides)
    except ClientError as error:
        raise Fail(f"Writing a probe ride to {table} failed ({error.response['Error']['Message']}); "
                   "check the table's and its indexes' key attributes and their types.") from None


def _describe_key(key_schema: list[dict]) -> str:
    partition, sort = key_names(key_schema)
    return f"partition key {partition}" + (f" and sort key {sort}" if sort else " and no sort key")


def _table_key_problem(table: dict, name: str, partition: str, sort: str | None) -> str | None:
    got = key_names(table["KeySchema"])
    if got == (partition, sort):
        return None
    wanted = f"partition key {partition}" + (f" and sort key {sort}" if sort else " alone")
    swapped = " (the two are swapped)" if got == (sort, partition) else ""
    return (f"{name} has {_describe_key(table['KeySchema'])}{swapped}; expected {wanted}. "
            f"A table's key cannot change: delete {name} and create it again.")


def _list(values, limit: int = 3) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c and 4 more'."""
    values = [str(v) for v in values]
    if not values:
        return "none"
    if len(values) > limit:
        return f"{', '.join(values[:limit])} and {len(values) - limit} more"
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} and {values[-1]}"


def _fare(value) -> str:
    """Fares as money: engines differ in how they write 29 (29, 29.0, 29.00)."""
    return f"{value:.2f}" if isinstance(value, Decimal) else repr(value)


def _differences(got, expected: dict) -> str:
    if got is None:
        return "it returned None"
    if not isinstance(got, dict):
        return f"it returned a {type(got).__name__}, not the ride as a dict"
    parts = []
    missing = [name for name in expected if name not in got]
    if missing:
        parts.append(f"it lacks {_list(missing)}")
    for name, value in expected.items():
        if name in got and got[name] != value:
            parts.append(f"{name} is {got[name]!r}, expected {value!r}")
    extra = [name for name in got if name not in expected]
    if extra:
        parts.append(f"it has {_list(extra)} too")
    return "; ".join(parts)


# -- probes shared by several tasks ----------------------------------------------------------
@dataclass
class RiderProbe:
    expected: list[str]  # probe ride ids inside the range, oldest first
    times: dict[str, str]  # probe ride id -> RequestTime
    probe: LearnerRun
    month: LearnerRun  # rides_for_rider(alice, November)
    ours: list[str]  # our own Query for alice's November rides


def rider_probe(ctx: CheckContext) -> RiderProbe:
    """Five rides of a probe rider in RiderRides: before, at start, inside, at end, after the range."""
    problem = _table_key_problem(require_rider_rides(ctx), RIDER_RIDES, "RiderId", "RequestTime")
    expect(not problem, problem)
    fn = learner_fn(ctx, "rides_for_rider")
    ddb = ctx.client("dynamodb")
    rider = f"{ctx.run_id}-rider"
    times = {"before": "2025-10-31T23:59:59Z", "start": MONTH_START, "inside": "2025-11-15T12:00:00Z",
             "end": MONTH_END, "after": "2025-12-01T00:00:00Z"}
    probes = [probe_ride(ctx, f"r-{name}", RiderId=rider, RequestTime=at) for name, at in times.items()]
    put_probes(ctx, RIDER_RIDES, probes)
    try:
        probe = run_learner(ctx, fn, rider, MONTH_START, MONTH_END)
        month = run_learner(ctx, fn, RIDER, MONTH_START, MONTH_END)
        ours = ride_ids(query_all(
            ddb, RIDER_RIDES, KeyConditionExpression="RiderId = :r AND RequestTime BETWEEN :a AND :b",
            ExpressionAttributeValues={":r": {"S": RIDER}, ":a": {"S": MONTH_START}, ":b": {"S": MONTH_END}}))
    finally:
        delete_keys(ddb, RIDER_RIDES, [{"RiderId": rider, "RequestTime": at} for at in times.values()])
    expected = [ride["RideId"] for ride in probes if MONTH_START <= ride["RequestTime"] <= MONTH_END]
    return RiderProbe(expected, {p["RideId"]: p["RequestTime"] for p in probes}, probe, month, ours)


@dataclass
class CityProbe:
    index_error: str | None = None  # why the index could not be queried by City
    through_index: dict | None = None  # one probe ride as the index returns it
    seen: int = 0  # probe rides found through the index
    expected: list[str] = field(default_factory=list)  # probe ids since PROBE_SINCE, newest first
    times: dict[str, str] = field(default_factory=dict)
    probe: LearnerRun | None = None  # rides_in_city(probe city, PROBE_SINCE, page_size=2)
    city: LearnerRun | None = None  # rides_in_city(Seattle, SINCE)
    ours: list[str] = field(default_factory=list)  # our own index Query for Seattle


PROBE_TIMES = ("2025-11-08T09:00:00Z", "2025-11-09T23:59:59Z", PROBE_SINCE, "2025-11-11T07:30:00Z",
               "2025-11-12T18:05:00Z", "2025-11-20T06:45:00Z", "2025-11-28T22:10:00Z")


def city_probe(ctx: CheckContext) -> CityProbe:
    """Seven probe rides in a city of their own: found through the index, then through rides_in_city()."""
    table = require_rides(ctx)
    result = CityProbe()
    index = find_index(table, INDEX)
    if index is None:
        result.index_error = "missing"
        return result
    if key_names(index["KeySchema"]) != ("City", "RequestTime"):
        result.index_error = f"it has {_describe_key(index['KeySchema'])}"
        return result
    ddb = ctx.client("dynamodb")
    city = f"Probeville-{ctx.run_id}"
    probes = [probe_ride(ctx, f"c{n}", City=city, RequestTime=at, RiderId=f"probe-rider-{n}")
              for n, at in enumerate(PROBE_TIMES)]
    result.times = {p["RideId"]: p["RequestTime"] for p in probes}
    result.expected = [p["RideId"] for p in sorted(probes, key=lambda p: p["RequestTime"], reverse=True)
                       if p["RequestTime"] >= PROBE_SINCE]
    try:
        put_items(ddb, RIDES, probes)
    except ClientError as error:
        result.index_error = error.response["Error"]["Message"]
        return result
    try:
        deadline = time.monotonic() + ctx.delivery_grace  # index propagation is asynchronous on AWS
        while True:
            try:
                found = query_all(ddb, RIDES, IndexName=INDEX, KeyConditionExpression="City = :c",
                                  ExpressionAttributeValues={":c": {"S": city}})
            except ClientError as error:
                result.index_error = error.response["Error"]["Message"]
                return result
            if len(found) >= len(probes) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        result.seen = len(found)
        result.through_index = next((plain(item) for item in found if item.get("RideId") == probes[-1]["RideId"]), None)
        try:
            fn = learner_fn(ctx, "rides_in_city")
        except Fail as failure:  # create-gsi does not depend on the learner's code
            result.probe = result.city = LearnerRun(failure=str(failure))
        else:
            result.probe = run_learner(ctx, fn, city, PROBE_SINCE, PROBE_PAGE)
            result.city = run_learner(ctx, fn, CITY, SINCE)
        result.ours = ride_ids(query_all(
            ddb, RIDES, IndexName=INDEX, ScanIndexForward=False,
            KeyConditionExpression="City = :c AND RequestTime >= :s",
            ExpressionAttributeValues={":c": {"S": CITY}, ":s": {"S": SINCE}}))
    finally:
        delete_keys(ddb, RIDES, [{"RideId": p["RideId"]} for p in probes])
    return result


# -- tasks --------------------------------------------------------------------------------------
@checker.task("create-table")
def create_table(ctx: CheckContext) -> str:
    table = ctx.fixture(read_tables).rides
    if table is None:
        names = ctx.client("dynamodb").list_tables().get("TableNames", [])
        found = f" (tables: {_list(names)})" if names else ""
        raise Fail(f"There is no table named {RIDES}{found}; expected {RIDES} with partition key RideId "
                   "(a string) and on-demand capacity, created with `awslocal dynamodb create-table`.")
    problem = _table_key_problem(table, RIDES, "RideId", None)
    expect(not problem, problem)
    # moto drops a table's own key from AttributeDefinitions after an UpdateTable; absent means unknown.
    kind = attribute_types(table).get("RideId", "S")
    expect(kind == "S", f"RideId is defined as {TYPE_NAMES.get(kind, kind)}; ride ids like R-0042 are strings, "
                        f"so define it with AttributeType S (delete {RIDES} and create it again).")
    mode = billing_mode(table)
    throughput = table.get("ProvisionedThroughput") or {}
    expect(mode == "PAY_PER_REQUEST",
           f"{RIDES} is in {mode} mode ({throughput.get('ReadCapacityUnits', '?')} read and "
           f"{throughput.get('WriteCapacityUnits', '?')} write capacity units); the design asks for on-demand "
           f"capacity, BillingMode PAY_PER_REQUEST. Switch it with `awslocal dynamodb update-table "
           f"--table-name {RIDES} --billing-mode PAY_PER_REQUEST`.")
    status = table.get("TableStatus")
    expect(status == "ACTIVE", f"{RIDES} is {status}; wait until it is ACTIVE "
                               f"(`awslocal dynamodb wait table-exists --table-name {RIDES}`).")
    return f"{RIDES} is ACTIVE with partition key RideId (S) and on-demand capacity (PAY_PER_REQUEST)."


@checker.task("load-dataset")
def load_dataset(ctx: CheckContext) -> str:
    require_rides(ctx)
    rides = ctx.fixture(dataset)
    ddb = ctx.client("dynamodb")
    # One COUNT scan when all is well (a full scan of 200 items costs moto a third of a second).
    first, last = rides[0]["RideId"], rides[-1]["RideId"]
    complete = ddb.scan(
        TableName=RIDES, Select="COUNT", ConsistentRead=True,
        FilterExpression="RideId BETWEEN :first AND :last AND attribute_type(Fare, :number) AND "
                         + " AND ".join(f"attribute_exists(#a{n})" for n in range(len(RIDE_ATTRIBUTES))),
        ExpressionAttributeNames={f"#a{n}": name for n, name in enumerate(RIDE_ATTRIBUTES)},  # Status is reserved
        ExpressionAttributeValues={":first": {"S": first}, ":last": {"S": last}, ":number": {"S": "N"}},
    )
    if complete["Count"] == len(rides) and "LastEvaluatedKey" not in complete:
        return f"{RIDES} holds all {len(rides)} rides of {DATASET}, each with all its attributes and Fare stored as a number."
    stored = {item.get("RideId"): plain(item) for item in scan_all(ddb, RIDES, ConsistentRead=True)}
    missing = [ride["RideId"] for ride in rides if ride["RideId"] not in stored]
    if missing:
        raise Fail(
            f"{RIDES} holds {len(rides) - len(missing)} of the {len(rides)} rides in {DATASET}; "
            f"{_list(missing)} are missing. BatchWriteItem takes at most 25 puts per request and returns the ones "
            "it could not write in UnprocessedItems: send every chunk of 25 and resend the unprocessed items "
            "(boto3's Table.batch_writer() does both).")
    text_fares = [ride["RideId"] for ride in rides if not isinstance(stored[ride["RideId"]].get("Fare"), Decimal)]
    if text_fares:
        example = text_fares[0]
        raise Fail(f"Fare is not stored as a number in {len(text_fares)} ride(s) (e.g. {example}: "
                   f"{stored[example].get('Fare')!r}); store it as N so Fare + tip and numeric comparisons work "
                   "(in Python: json.load(file, parse_float=Decimal)).")
    for ride in rides:
        absent = [name for name in RIDE_ATTRIBUTES if name not in stored[ride["RideId"]]]
        if absent:
            raise Fail(f"{ride['RideId']} in {RIDES} lacks {_list(absent)}, which {DATASET} has; load every "
                       "attribute of every ride (the index and the queries need City and RequestTime).")
    raise Fail(f"{RIDES} holds the {len(rides)} rides of {DATASET}, but a scan for them counted "
               f"{complete['Count']}; load the file again, unchanged.")


@checker.task("read-ride")
def read_ride(ctx: CheckContext) -> str:
    require_rides(ctx)
    fn = learner_fn(ctx, "get_ride")
    ddb = ctx.client("dynamodb")
    ride = probe_ride(ctx, "read", Fare=Decimal("31.25"))
    put_probes(ctx, RIDES, [ride])
    try:
        found = run_learner(ctx, fn, ride["RideId"])
        unknown = run_learner(ctx, fn, f"{ctx.run_id}-no-such-ride")
    finally:
        ddb.delete_item(TableName=RIDES, Key=to_dynamodb({"RideId": ride["RideId"]}))
    if found.failure:
        raise Fail(found.failure)
    reads = found.requests.of("GetItem", "BatchGetItem", "Query", "Scan")
    expect(reads, "get_ride() returned without reading DynamoDB; expected a GetItem on Rides by RideId.")
    expect(not found.requests.of("Scan"), "get_ride() scanned the table to find one ride; read it by its key instead: "
                                     "GetItem with Key={'RideId': ride_id}.")
    eventual = [call.operation for call in reads if call.get("ConsistentRead") is not True]
    expect(not eventual,
           f"get_ride() read the ride with an eventually consistent {eventual[0] if eventual else ''} "
           "(ConsistentRead not set): right after a write it may return the old ride, or none. "
           "Pass ConsistentRead=True.")
    got = plain(found.result)
    expect(not (isinstance(got, dict) and "Item" in got),
           "get_ride() returned get_item's whole response; return just the ride: response.get('Item').")
    expect(got == ride, f"get_ride() returned something other than the stored ride: {_differences(got, ride)}; "
                        "expected the whole item (response['Item']).")
    if unknown.failure:
        raise Fail(f"For a ride id that does not exist, {unknown.failure}; expected it to return None "
                   "(get_item's response then has no 'Item').")
    expect(unknown.result is None, f"get_ride() returned {unknown.result!r} for a ride id that does not exist; "
                                   "expected None.")
    return "get_ride() reads a ride by its key with a strongly consistent GetItem and returns it whole (None for an unknown id)."


@checker.task("update-ride")
def update_ride(ctx: CheckContext) -> str:
    require_rides(ctx)
    fn = learner_fn(ctx, "complete_ride")
    ddb = ctx.client("dynamodb")
    active = probe_ride(ctx, "u-active", Status="IN_PROGRESS")
    cancelled = probe_ride(ctx, "u-cancelled", Status="CANCELLED")
    unknown_id = f"{ctx.run_id}-u-unknown"
    put_probes(ctx, RIDES, [active, cancelled])

    def stored(ride_id: str) -> dict | None:
        item = ddb.get_item(TableName=RIDES, Key=to_dynamodb({"RideId": ride_id}), ConsistentRead=True).get("Item")
        return plain(from_dynamodb(item)) if item else None

    try:
        first = run_learner(ctx, fn, active["RideId"], TIP)
        after_first = stored(active["RideId"])
        second = run_learner(ctx, fn, active["RideId"], TIP) if first.failure is None else None
        after_second = stored(active["RideId"])
        on_cancelled = run_learner(ctx, fn, cancelled["RideId"], TIP)
        after_cancelled = stored(cancelled["RideId"])
        on_unknown = run_learner(ctx, fn, unknown_id, TIP)
        after_unknown = stored(unknown_id)
    finally:
        delete_keys(ddb, RIDES, [{"RideId": ride_id} for ride_id in (active["RideId"], cancelled["RideId"], unknown_id)])

    fare, tipped = PROBE_FARE, PROBE_FARE + TIP
    if first.failure:
        raise Fail(first.failure)
    expect(after_first and after_first.get("Status") == "COMPLETED" and after_first.get("Fare") == tipped,
           f"After complete_ride(ride_id, tip={TIP}) on an IN_PROGRESS ride with Fare {fare}, the ride has "
           f"Status {(after_first or {}).get('Status')} and Fare {_fare((after_first or {}).get('Fare'))}; expected Status "
           f"COMPLETED and Fare {tipped} (SET #status = :completed, Fare = Fare + :tip).")
    returned = plain(first.result)
    expect(returned is not None, "complete_ride() completed the ride but returned None; return the updated ride "
                                 "(ReturnValues=\"ALL_NEW\" and response['Attributes']).")
    expect(isinstance(returned, dict) and returned.get("Status") == "COMPLETED" and returned.get("Fare") == tipped,
           f"complete_ride() returned {returned!r}; expected the updated ride, with Status COMPLETED and Fare {tipped} "
           "(ReturnValues=\"ALL_NEW\").")
    twice = (after_second or {}).get("Fare")
    expect(twice == tipped,
           f"A second complete_ride() on the same ride changed it again (Fare {_fare(twice)}, expected it to stay "
           f"{tipped}): the update is not conditional. Add ConditionExpression \"#status = :in_progress\" so it applies only "
           "while the ride is IN_PROGRESS.")
    _expect_refused(second, "a second call for the same, now COMPLETED, ride")
    expect(after_cancelled == cancelled,
           f"complete_ride() changed a CANCELLED ride (it now has Status {(after_cancelled or {}).get('Status')}, "
           f"Fare {_fare((after_cancelled or {}).get('Fare'))}); the condition must require Status = IN_PROGRESS, "
           "not merely that the ride is not COMPLETED yet.")
    _expect_refused(on_cancelled, "a CANCELLED ride")
    expect(after_unknown is None,
           f"complete_ride() on a ride id that does not exist created an item ({_list(sorted(after_unknown or {}))}): "
           "UpdateItem creates missing items unless its condition fails. Condition on Status = IN_PROGRESS.")
    _expect_refused(on_unknown, "a ride id that does not exist")
    return (f"complete_ride() completes an IN_PROGRESS ride and adds the tip in one conditional update "
            f"(Fare {fare} -> {tipped}); a second call, a CANCELLED ride and an unknown id are refused and left unchanged.")


def _expect_refused(outcome: LearnerRun, case: str) -> None:
    what = outcome.failure or f"complete_ride() returned {outcome.result!r}"
    expect(refused(outcome), f"For {case}, {what}; expected None (the condition fails: catch the "
                              "ConditionalCheckFailedException and return None).")


@checker.task("query-composite-key")
def query_composite_key(ctx: CheckContext) -> str:
    table = require_rider_rides(ctx)
    problem = _table_key_problem(table, RIDER_RIDES, "RiderId", "RequestTime")
    expect(not problem, problem)
    probe = ctx.fixture(rider_probe)
    got, wanted = returned_ids("rides_for_rider", probe.probe), probe.expected
    if sorted(map(str, got)) != sorted(wanted):
        missing = [ride for ride in wanted if ride not in got]
        outside = [probe.times[ride] for ride in got if ride in probe.times and ride not in wanted]
        strangers = [ride for ride in got if ride not in probe.times]
        if strangers:
            raise Fail(f"rides_for_rider() returned rides of other riders too ({len(strangers)} of {len(got)}); "
                       "the partition key condition RiderId = :rider selects one rider's rides.")
        if outside:
            raise Fail(f"rides_for_rider(rider, {MONTH_START}, {MONTH_END}) also returned the ride(s) at "
                       f"{_list(outside)}, outside the range; use RequestTime BETWEEN :start AND :end.")
        edges = [probe.times[ride] for ride in missing]
        raise Fail(f"rides_for_rider(rider, {MONTH_START}, {MONTH_END}) missed the ride(s) at {_list(edges)}. "
                   "The range includes both ends: KeyConditionExpression RiderId = :rider AND RequestTime "
                   "BETWEEN :start AND :end.")
    expect(got == wanted, "rides_for_rider() returned the right rides newest first; expected oldest first, "
                          "the sort key's natural order (leave ScanIndexForward at its default).")
    rides = ctx.fixture(dataset)
    in_month = [r["RideId"] for r in rides if r["RiderId"] == RIDER and MONTH_START <= r["RequestTime"] <= MONTH_END]
    loaded = [ride for ride in in_month if ride in probe.ours]
    expect(len(loaded) == len(in_month),
           f"{RIDER_RIDES} holds {len(loaded)} of {RIDER}'s {len(in_month)} November 2025 rides in {DATASET}; "
           f"load the dataset into {RIDER_RIDES} as well (README step 5).")
    month = returned_ids("rides_for_rider", probe.month)
    expect(month == probe.ours,
           f"rides_for_rider('{RIDER}', {MONTH_START}, {MONTH_END}) returned {len(month)} ride(s); a Query on "
           f"{RIDER_RIDES} returns {len(probe.ours)}, oldest first ({_list(probe.ours)}).")
    return (f"{RIDER_RIDES} (partition key RiderId, sort key RequestTime) answers rides_for_rider(): {RIDER}'s "
            f"{len(month)} November rides oldest first, with both ends of the range included.")


@checker.task("create-gsi")
def create_gsi(ctx: CheckContext) -> str:
    table = require_rides(ctx)
    index = find_index(table, INDEX)
    if index is None:
        others = index_names(table)
        found = f" (it has {_list(others)})" if others else ""
        raise Fail(f"{RIDES} has no global secondary index named {INDEX}{found}; expected one with partition key "
                   f"City, sort key RequestTime and an INCLUDE projection of {' and '.join(PROJECTED)}.")
    keys = key_names(index["KeySchema"])
    if keys == ("RequestTime", "City"):
        raise Fail(f"{INDEX} has partition key RequestTime and sort key City: the keys are swapped. A query "
                   "names one City and a range of RequestTime, so City must be the partition key and "
                   "RequestTime the sort key. Delete the index and create it again.")
    expect(keys == ("City", "RequestTime"), f"{INDEX} has {_describe_key(index['KeySchema'])}; expected partition "
                                            "key City and sort key RequestTime. Delete the index and create it again.")
    probe = ctx.fixture(city_probe)
    expect(not probe.index_error, f"Writing probe rides to {RIDES} and reading them through {INDEX} failed "
                                  f"({probe.index_error}); City and RequestTime are strings (AttributeType S).")
    expect(probe.seen == len(PROBE_TIMES),
           f"Wrote {len(PROBE_TIMES)} probe rides to {RIDES}; {probe.seen} came back through {INDEX}. "
           f"Expected all of them (IndexStatus is {index.get('IndexStatus')}).")
    got = set(probe.through_index or {})
    keys_only = {"RideId", "City", "RequestTime"}
    projection = index.get("Projection") or {}
    kind, included = projection.get("ProjectionType"), projection.get("NonKeyAttributes") or []
    extra = sorted(got - keys_only - set(PROJECTED))
    absent = [name for name in PROJECTED if name not in got]
    design = f"ProjectionType INCLUDE with NonKeyAttributes {' and '.join(PROJECTED)}"
    if extra:
        what = "projects ALL attributes" if kind == "ALL" else f"includes {_list(extra)} in its NonKeyAttributes"
        raise Fail(f"A probe ride read through {INDEX} came back with {_list(extra)} too: the index {what}. "
                   f"The design copies only what the city screen shows into the index: {design}. "
                   "Delete the index and create it again.")
    if absent:
        if kind == "KEYS_ONLY" or not (got - keys_only):
            raise Fail(f"A probe ride read through {INDEX} came back with its keys only (projection {kind}): "
                       f"{' and '.join(PROJECTED)} would need a second read from {RIDES}. Expected {design}.")
        raise Fail(f"A probe ride read through {INDEX} came back without {_list(absent)}: it is not projected "
                   f"(NonKeyAttributes {included}). Expected {design}.")
    expect(index.get("IndexStatus") == "ACTIVE", f"{INDEX} is {index.get('IndexStatus')}; wait until it is ACTIVE.")
    expect(kind == "INCLUDE" and sorted(included) == sorted(PROJECTED),
           f"{INDEX} has projection {projection}; expected {design}.")
    return (f"{INDEX} (partition key City, sort key RequestTime, INCLUDE {' and '.join(PROJECTED)}) is ACTIVE; "
            f"{len(PROBE_TIMES)} probe rides came back through it with exactly their keys, Fare and Status.")


@checker.task("query-gsi")
def query_gsi(ctx: CheckContext) -> str:
    require_rides(ctx)
    probe = ctx.fixture(city_probe)
    if probe.index_error == "missing":
        raise Fail(f"There is no {INDEX} on {RIDES} yet (task create-gsi); rides_in_city() queries it.")
    if probe.index_error:
        raise Fail(f"{INDEX} cannot be queried by City yet ({probe.index_error}); fix task create-gsi first.")
    run = probe.probe
    got, wanted = returned_ids("rides_in_city", run), probe.expected
    call = f"rides_in_city(city, '{PROBE_SINCE}', page_size={PROBE_PAGE})"
    requests = run.requests.of("Query", "Scan")
    if sorted(map(str, got)) != sorted(wanted):
        old = [probe.times[ride] for ride in got if ride in probe.times and probe.times[ride] < PROBE_SINCE]
        if old:
            raise Fail(f"{call} also returned ride(s) from {_list(old)}, before `since`; "
                       "use RequestTime >= :since in the KeyConditionExpression.")
        if len(got) < len(wanted) and len(requests) == 1 and "LastEvaluatedKey" in requests[0].response:
            raise Fail(f"{call} returned {len(got)} of the {len(wanted)} rides: only the first page. Repeat the Query "
                       "with ExclusiveStartKey set to the previous page's LastEvaluatedKey until there is none.")
        missing = [probe.times[ride] for ride in wanted if ride not in got]
        edge = " `since` itself is included: >=, not >." if PROBE_SINCE in missing else ""
        raise Fail(f"{call} returned {len(got)} ride(s); expected the {len(wanted)} requested since then, "
                   f"missing the one(s) at {_list(missing)}.{edge}")
    expect(got == wanted, f"{call} returned the right rides, but not newest first; expected them newest first: "
                          "ScanIndexForward=False lets the index do the sorting.")
    limits = sorted({str(request.get("Limit")) for request in requests})
    how = "without a Limit" if limits == ["None"] else f"with Limit {_list(limits)}"
    expect(len(requests) > 1 and limits == [str(PROBE_PAGE)],
           f"{call} fetched {len(wanted)} rides in {len(requests)} request(s) {how}; expected one "
           f"page of page_size ({PROBE_PAGE}) per request: Limit=page_size, then ExclusiveStartKey = LastEvaluatedKey.")
    city = returned_ids("rides_in_city", probe.city)
    expect(city == probe.ours,
           f"rides_in_city('{CITY}', '{SINCE}') returned {len(city)} ride(s); a Query on {INDEX} returns "
           f"{len(probe.ours)}, newest first (starting {_list(probe.ours[:3])}).")
    return (f"rides_in_city() returns a city's rides since a time, newest first, page by page: "
            f"{len(wanted)} probe rides in {len(requests)} requests of Limit {PROBE_PAGE}, "
            f"and {len(city)} {CITY} rides since {SINCE[:10]}.")


def _efficiency_problems(name: str, runs: list[LearnerRun], table: str, index: str | None, key_condition: str) -> list[str]:
    failures = [run.failure for run in runs if run.failure]
    if failures:
        return [failures[0]]
    calls = [call for run in runs for call in run.requests]
    reads = [call for call in calls if call.operation in ("Query", "Scan")]
    if not reads:
        return [f"{name}() made no Query (requests: {_list(sorted({c.operation for c in calls}))})"]
    scans = [call for call in reads if call.operation == "Scan"]
    if scans:
        scanned, kept = scans[0].response.get("ScannedCount"), scans[0].response.get("Count")
        return [f"{name}() used Scan: it read {scanned} items to return {kept}. A Scan reads the whole table and "
                f"filters afterwards; use Query with KeyConditionExpression {key_condition}"
                + (f" on IndexName={index}" if index else f" on {table}")]
    wrong_place = [call for call in reads if (call.get("TableName"), call.get("IndexName")) != (table, index)]
    if wrong_place:
        where = wrong_place[0].get("TableName") + (f" / {wrong_place[0].get('IndexName')}" if wrong_place[0].get("IndexName") else "")
        return [f"{name}() queried {where}; expected {table}" + (f" / {index}" if index else "")]
    filtered = [call for call in reads if call.response.get("ScannedCount") is not None
                and call.response["ScannedCount"] != call.response.get("Count")]
    if filtered:
        call = filtered[0]
        scanned, kept = call.response["ScannedCount"], call.response.get("Count")
        return [f"{name}() made a Query that read {scanned} items to return {kept} (ScannedCount "
                f"{scanned}, Count {kept}): a FilterExpression is doing the key condition's work. "
                f"Put the RequestTime condition in the KeyConditionExpression: {key_condition}"]
    return []


@checker.task("query-not-scan")
def query_not_scan(ctx: CheckContext) -> str:
    require_rides(ctx)
    problems, requests = [], 0
    checks = [
        ("rides_for_rider", rider_probe, lambda p: [p.probe, p.month], RIDER_RIDES, None,
         "RiderId = :rider AND RequestTime BETWEEN :start AND :end"),
        ("rides_in_city", city_probe, lambda p: [p.probe, p.city] if p.probe else [], RIDES, INDEX,
         "City = :city AND RequestTime >= :since"),
    ]
    for name, fixture, runs_of, table, index, condition in checks:
        try:
            runs = runs_of(ctx.fixture(fixture))
        except Fail as failure:
            problems.append(str(failure))
            continue
        if not runs:
            problems.append(f"{name}() could not be tried: {INDEX} is missing or cannot be queried by City (task create-gsi)")
            continue
        problems += _efficiency_problems(name, runs, table, index, condition)
        requests += sum(len(run.requests) for run in runs)
    if problems:
        raise Fail(" Also, ".join(problem.rstrip(".") + "." for problem in problems))
    return (f"rides_for_rider() and rides_in_city() use Query only and read exactly what they return: "
            f"ScannedCount equals Count in all {requests} requests.")


# -- lifecycle -------------------------------------------------------------------------------
def ensure_table(ddb, spec: dict) -> None:
    """Create the table as designed; recreate it if its key differs, switch it to on-demand if needed."""
    table = describe(ddb, spec["TableName"])
    if table is not None and key_names(table["KeySchema"]) != key_names(spec["KeySchema"]):
        ddb.delete_table(TableName=spec["TableName"])
        ddb.get_waiter("table_not_exists").wait(TableName=spec["TableName"], WaiterConfig={"Delay": 0.1})
        table = None
    if table is None:
        ddb.create_table(**spec)
    elif billing_mode(table) != "PAY_PER_REQUEST":
        ddb.update_table(TableName=spec["TableName"], BillingMode="PAY_PER_REQUEST")
    wait_active(ddb, spec["TableName"])


def ensure_index(ddb, index_spec: dict = CITY_INDEX) -> None:
    """Give Rides the CityTime-index as designed (replacing an index of that name that differs)."""
    index = find_index(describe(ddb, RIDES), INDEX)
    if index is not None and (index["KeySchema"] != index_spec["KeySchema"]
                              or index.get("Projection", {}).get("ProjectionType") != index_spec["Projection"]["ProjectionType"]
                              or sorted(index.get("Projection", {}).get("NonKeyAttributes") or [])
                              != sorted(index_spec["Projection"].get("NonKeyAttributes") or [])):
        drop_index(ddb)
        index = None
    if index is None:
        ddb.update_table(TableName=RIDES, AttributeDefinitions=CITY_INDEX_ATTRIBUTES,
                         GlobalSecondaryIndexUpdates=[{"Create": index_spec}])
    wait_active(ddb, RIDES, INDEX)


def drop_index(ddb) -> None:
    ddb.update_table(TableName=RIDES, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": INDEX}}])
    deadline = time.monotonic() + 60
    while find_index(describe(ddb, RIDES), INDEX) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


@checker.solve
def solve(ctx: CheckContext) -> None:
    """The reference solution, as the README's commands build it (rides_repo.py comes from solution/)."""
    ddb = ctx.client("dynamodb")
    ensure_table(ddb, RIDES_TABLE)
    ensure_table(ddb, RIDER_RIDES_TABLE)
    rides = dataset(ctx)
    put_items(ddb, RIDES, rides)
    put_items(ddb, RIDER_RIDES, rides)
    ensure_index(ddb)


@checker.cleanup
def cleanup(ctx: CheckContext) -> None:
    """Delete both tables (`lab reset dynamodb-gsi`)."""
    ddb = ctx.client("dynamodb")
    for name in (RIDES, RIDER_RIDES):
        if describe(ddb, name) is not None:
            ddb.delete_table(TableName=name)
