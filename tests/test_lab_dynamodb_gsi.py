"""dynamodb-gsi, specified: a fresh start fails every learner task, the reference
solution passes every task, re-checking changes nothing, and each
wrong-but-plausible setup (table, data, index or rides_repo.py) fails the
right task with a message that says what to change."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from checkers import dynamodb_gsi as lab_checker
from checkers._support.dynamodb import delete_keys, describe, find_index, scan_all
from labkit import catalog, session
from tests.labtools import check, context, learner_tasks, message, start, statuses

LAB = "dynamodb-gsi"
LAB_FOLDER = Path(catalog.find_folder(LAB))
SOLUTION = (LAB_FOLDER / "solution" / "rides_repo.py").read_text()


@pytest.fixture
def solved(lab_home):
    start(LAB, lab_home)
    session.solve_lab(LAB)
    return context(LAB)


def ddb(ctx):
    return ctx.client("dynamodb")


def write_repo(ctx, source: str) -> None:
    (ctx.workspace / "rides_repo.py").write_text(source)


def reference_with(*replacements: tuple[str, str], append: str = "") -> str:
    """The reference rides_repo.py with some lines changed, or some functions redefined at the end."""
    source = SOLUTION
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    return source + "\n\n" + textwrap.dedent(append)


def failing(report, task: str) -> str:
    assert statuses(report)[task] == "fail", (task, message(report, task))
    return message(report, task)


def what_a_learner_sees(ctx) -> dict:
    client = ddb(ctx)
    tables = {}
    for name in ("Rides", "RiderRides"):
        table = describe(client, name)
        tables[name] = {
            "keys": table["KeySchema"],
            "indexes": sorted((i["IndexName"], str(i["KeySchema"]), str(i["Projection"]))
                              for i in table.get("GlobalSecondaryIndexes") or []),
            "items": sorted(scan_all(client, name, ConsistentRead=True), key=lambda item: str(sorted(item.items()))),
        }
    tables["workspace"] = sorted(p.name for p in ctx.workspace.iterdir())
    return tables


# -- the lab as a whole -----------------------------------------------------------------------
def test_fresh_start_fails_every_learner_task_with_its_own_message(lab_home):
    lab = start(LAB, lab_home)
    report = check(LAB)
    assert all(statuses(report)[task] == "fail" for task in learner_tasks(lab)), statuses(report)
    assert "There is no table named Rides" in message(report, "create-table")
    assert "create it first (task create-table)" in message(report, "load-dataset")
    assert "There is no RiderRides table yet" in message(report, "query-composite-key")


def test_starter_functions_fail_as_not_implemented_not_as_errors(lab_home):
    start(LAB, lab_home)
    ctx = context(LAB)
    client = ddb(ctx)
    for spec in (lab_checker.RIDES_TABLE, lab_checker.RIDER_RIDES_TABLE):
        client.create_table(**spec)
    lab_checker.ensure_index(client)
    report = check(LAB)
    assert statuses(report)["create-table"] == "pass"
    assert statuses(report)["create-gsi"] == "pass"  # the index is graded without the learner's code
    assert "get_ride() is not implemented yet" in failing(report, "read-ride")
    assert "complete_ride() is not implemented yet" in failing(report, "update-ride")
    assert "rides_in_city() is not implemented yet" in failing(report, "query-gsi")
    assert "rides_for_rider() is not implemented yet" in failing(report, "query-not-scan")


def test_reference_solution_passes_and_rechecking_changes_nothing(solved):
    session.solve_lab(LAB)  # solve is idempotent
    before = what_a_learner_sees(solved)
    first = check(LAB)
    assert first.all_passed, [(t.id, t.message) for t in first.tasks if t.status != "pass"]
    second = check(LAB)
    assert [(t.id, t.status, t.message) for t in second.tasks] == [(t.id, t.status, t.message) for t in first.tasks]
    assert what_a_learner_sees(solved) == before  # every probe ride is gone, no learner ride changed


def test_reset_removes_both_tables_and_the_progress(solved):
    check(LAB)
    session.reset_lab(LAB)
    client = ddb(context(LAB))
    assert describe(client, "Rides") is None and describe(client, "RiderRides") is None
    from labkit.progress import ProgressStore

    assert ProgressStore().lab_progress(LAB) is None


def test_the_dataset_is_what_its_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_rides", LAB_FOLDER / "data" / "make_rides.py")
    make_rides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_rides)
    written = make_rides.write(tmp_path)
    assert len(written) == 9  # rides.json and 8 batch files of 25
    for path in written:
        shipped = LAB_FOLDER / "data" / path.relative_to(tmp_path)
        assert path.read_bytes() == shipped.read_bytes(), shipped
    rides = make_rides.generate()
    assert len({ride["RequestTime"] for ride in rides}) == len(rides) == 200
    assert any(r["RiderId"] == "alice" and r["RequestTime"].startswith("2025-11") for r in rides)


# -- create-table -------------------------------------------------------------------------------
def test_table_in_provisioned_mode_fails(solved):
    ddb(solved).update_table(TableName="Rides", BillingMode="PROVISIONED",
                             ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    text = failing(check(LAB, "create-table"), "create-table")
    assert "Rides is in PROVISIONED mode (5 read and 5 write capacity units)" in text
    assert "--billing-mode PAY_PER_REQUEST" in text


def test_table_with_a_composite_key_fails(lab_home):
    start(LAB, lab_home)
    ddb(context(LAB)).create_table(
        TableName="Rides", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "RideId", "KeyType": "HASH"}, {"AttributeName": "RequestTime", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "RideId", "AttributeType": "S"},
                              {"AttributeName": "RequestTime", "AttributeType": "S"}])
    text = failing(check(LAB, "create-table"), "create-table")
    assert "partition key RideId and sort key RequestTime; expected partition key RideId alone" in text
    assert "delete Rides and create it again" in text


def test_numeric_ride_id_fails(lab_home):
    start(LAB, lab_home)
    ddb(context(LAB)).create_table(
        TableName="Rides", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "RideId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "RideId", "AttributeType": "N"}])
    assert "RideId is defined as a number (N)" in failing(check(LAB, "create-table"), "create-table")


# -- load-dataset ---------------------------------------------------------------------------------
def test_partial_dataset_load_fails(solved):
    # what a loop that sends only the first 7 chunks of 25 (or drops UnprocessedItems) leaves behind
    delete_keys(ddb(solved), "Rides", [{"RideId": f"R-{n:04d}"} for n in range(176, 201)])
    text = failing(check(LAB, "load-dataset"), "load-dataset")
    assert "Rides holds 175 of the 200 rides in data/rides.json; R-0176, R-0177, R-0178 and 22 more are missing" in text
    assert "UnprocessedItems" in text


def test_fares_loaded_as_strings_fail(solved):
    client = ddb(solved)
    item = client.get_item(TableName="Rides", Key={"RideId": {"S": "R-0007"}})["Item"]
    client.put_item(TableName="Rides", Item={**item, "Fare": {"S": item["Fare"]["N"]}})
    text = failing(check(LAB, "load-dataset"), "load-dataset")
    assert "Fare is not stored as a number in 1 ride(s) (e.g. R-0007" in text
    assert "parse_float=Decimal" in text


# -- read-ride ------------------------------------------------------------------------------------
def test_eventually_consistent_read_fails(solved):
    write_repo(solved, reference_with(("get_item(Key={\"RideId\": ride_id}, ConsistentRead=True)",
                                       "get_item(Key={\"RideId\": ride_id})")))
    text = failing(check(LAB, "read-ride"), "read-ride")
    assert "eventually consistent GetItem (ConsistentRead not set)" in text
    assert "ConsistentRead=True" in text


def test_reading_one_ride_with_a_scan_fails(solved):
    write_repo(solved, reference_with(append='''
        def get_ride(ride_id):
            items = dynamodb.Table(TABLE_NAME).scan(ConsistentRead=True)["Items"]
            return next((item for item in items if item["RideId"] == ride_id), None)
    '''))
    assert "scanned the table to find one ride" in failing(check(LAB, "read-ride"), "read-ride")


def test_a_broken_repo_fails_its_tasks_but_not_the_index(solved):
    write_repo(solved, "def get_ride(ride_id)\n    pass\n")
    report = check(LAB)
    assert "rides_repo.py has a syntax error on line 1" in failing(report, "read-ride")
    assert statuses(report)["create-gsi"] == "pass"
    assert statuses(report)["load-dataset"] == "pass"


# -- update-ride ----------------------------------------------------------------------------------
def test_unconditional_update_fails(solved):
    write_repo(solved, reference_with(('            ConditionExpression="#status = :in_progress",\n', ""),
                                      ('                ":in_progress": "IN_PROGRESS",\n', "")))
    text = failing(check(LAB, "update-ride"), "update-ride")
    assert "A second complete_ride() on the same ride changed it again (Fare 29.00, expected it to stay 24.50)" in text
    assert "the update is not conditional" in text


def test_condition_that_only_excludes_completed_rides_fails(solved):
    write_repo(solved, reference_with(('ConditionExpression="#status = :in_progress"',
                                       'ConditionExpression="#status <> :completed AND attribute_exists(RideId)"'),
                                      ('                ":in_progress": "IN_PROGRESS",\n', "")))
    text = failing(check(LAB, "update-ride"), "update-ride")
    assert "complete_ride() changed a CANCELLED ride" in text
    assert "Status = IN_PROGRESS" in text


def test_update_that_does_not_return_the_ride_fails(solved):
    write_repo(solved, reference_with(('    return response["Attributes"]', "    return None")))
    assert "returned None; return the updated ride" in failing(check(LAB, "update-ride"), "update-ride")


def test_letting_the_conditional_failure_out_is_accepted(solved):
    write_repo(solved, reference_with(('        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":\n'
                                       "            return None\n", "")))
    report = check(LAB, "update-ride")
    assert statuses(report)["update-ride"] == "pass", message(report, "update-ride")


# -- query-composite-key --------------------------------------------------------------------------
def test_rider_rides_with_swapped_keys_fails(lab_home):
    start(LAB, lab_home)
    ddb(context(LAB)).create_table(**{**lab_checker.RIDER_RIDES_TABLE, "KeySchema": [
        {"AttributeName": "RequestTime", "KeyType": "HASH"}, {"AttributeName": "RiderId", "KeyType": "RANGE"}]})
    text = failing(check(LAB, "query-composite-key"), "query-composite-key")
    assert "partition key RequestTime and sort key RiderId (the two are swapped)" in text


def test_rider_rides_left_empty_fails(solved):
    client = ddb(solved)
    rides = scan_all(client, "RiderRides")
    delete_keys(client, "RiderRides", [{"RiderId": r["RiderId"], "RequestTime": r["RequestTime"]} for r in rides])
    text = failing(check(LAB, "query-composite-key"), "query-composite-key")
    assert "RiderRides holds 0 of alice's 8 November 2025 rides" in text


def test_rider_query_newest_first_fails(solved):
    write_repo(solved, reference_with(
        ('KeyConditionExpression=Key("RiderId").eq(rider_id) & Key("RequestTime").between(start, end),',
         'KeyConditionExpression=Key("RiderId").eq(rider_id) & Key("RequestTime").between(start, end),\n'
         '        ScanIndexForward=False,')))
    assert "newest first; expected oldest first" in failing(check(LAB, "query-composite-key"), "query-composite-key")


# -- create-gsi -----------------------------------------------------------------------------------
def replace_index(ctx, **changes) -> None:
    lab_checker.ensure_index(ddb(ctx), {**lab_checker.CITY_INDEX, **changes})


def test_gsi_with_swapped_keys_fails(solved):
    replace_index(solved, KeySchema=[{"AttributeName": "RequestTime", "KeyType": "HASH"},
                                     {"AttributeName": "City", "KeyType": "RANGE"}])
    report = check(LAB)
    assert "the keys are swapped" in failing(report, "create-gsi")
    assert "City must be the partition key and RequestTime the sort key" in message(report, "create-gsi")
    assert "cannot be queried by City yet" in failing(report, "query-gsi")


def test_gsi_projecting_all_attributes_fails(solved):
    replace_index(solved, Projection={"ProjectionType": "ALL"})
    text = failing(check(LAB, "create-gsi"), "create-gsi")
    assert "came back with DriverId, RiderId and UnicornName too: the index projects ALL attributes" in text
    assert "ProjectionType INCLUDE with NonKeyAttributes Fare and Status" in text


def test_gsi_projecting_keys_only_fails(solved):
    replace_index(solved, Projection={"ProjectionType": "KEYS_ONLY"})
    text = failing(check(LAB, "create-gsi"), "create-gsi")
    assert "came back with its keys only (projection KEYS_ONLY)" in text


def test_gsi_missing_a_projected_attribute_fails(solved):
    replace_index(solved, Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["Fare"]})
    text = failing(check(LAB, "create-gsi"), "create-gsi")
    assert "came back without Status: it is not projected (NonKeyAttributes ['Fare'])" in text


def test_missing_gsi_fails_both_index_tasks(solved):
    lab_checker.drop_index(ddb(solved))
    assert find_index(describe(ddb(solved), "Rides"), "CityTime-index") is None
    report = check(LAB)
    assert "Rides has no global secondary index named CityTime-index" in failing(report, "create-gsi")
    assert "There is no CityTime-index on Rides yet" in failing(report, "query-gsi")


# -- query-gsi ------------------------------------------------------------------------------------
def test_city_query_that_stops_after_the_first_page_fails(solved):
    write_repo(solved, reference_with(append='''
        def rides_in_city(city, since, page_size=10):
            return dynamodb.Table(TABLE_NAME).query(
                IndexName=CITY_INDEX, ScanIndexForward=False, Limit=page_size,
                KeyConditionExpression=Key("City").eq(city) & Key("RequestTime").gte(since))["Items"]
    '''))
    text = failing(check(LAB, "query-gsi"), "query-gsi")
    assert "returned 2 of the 5 rides: only the first page" in text
    assert "ExclusiveStartKey" in text


def test_city_query_oldest_first_fails(solved):
    write_repo(solved, reference_with(("        ScanIndexForward=False,\n", "")))
    assert "not newest first" in failing(check(LAB, "query-gsi"), "query-gsi")


def test_city_query_without_page_size_fails(solved):
    write_repo(solved, reference_with(("        Limit=page_size,\n", "")))
    text = failing(check(LAB, "query-gsi"), "query-gsi")
    assert "fetched 5 rides in 1 request(s) without a Limit" in text


# -- query-not-scan -------------------------------------------------------------------------------
SCANNING_REPO = '''
    from boto3.dynamodb.conditions import Attr

    def _scan_all(table, **kwargs):
        items = []
        while True:
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def rides_for_rider(rider_id, start, end):
        rides = _scan_all(dynamodb.Table(RIDER_TABLE_NAME),
                          FilterExpression=Attr("RiderId").eq(rider_id) & Attr("RequestTime").between(start, end))
        return sorted(rides, key=lambda ride: ride["RequestTime"])

    def rides_in_city(city, since, page_size=10):
        rides = _scan_all(dynamodb.Table(TABLE_NAME),
                          FilterExpression=Attr("City").eq(city) & Attr("RequestTime").gte(since))
        return sorted(rides, key=lambda ride: ride["RequestTime"], reverse=True)
'''


def test_queries_implemented_as_scan_and_filter_fail(solved):
    write_repo(solved, reference_with(append=SCANNING_REPO))
    report = check(LAB)
    text = failing(report, "query-not-scan")
    assert "rides_for_rider() used Scan: it read 205 items to return 3" in text
    assert "Also, rides_in_city() used Scan" in text
    assert "use Query with KeyConditionExpression City = :city AND RequestTime >= :since on IndexName=CityTime-index" in text
    # the answers are right, so the rider query's results pass; the GSI task wants its pages
    assert statuses(report)["query-composite-key"] == "pass"
    assert "in 1 request(s)" in failing(report, "query-gsi")


def test_city_query_filtering_on_time_instead_of_the_sort_key_fails(solved):
    write_repo(solved, reference_with(append='''
        from boto3.dynamodb.conditions import Attr

        def rides_in_city(city, since, page_size=10):
            return _query_all(dynamodb.Table(TABLE_NAME), IndexName=CITY_INDEX, ScanIndexForward=False,
                              Limit=page_size, KeyConditionExpression=Key("City").eq(city),
                              FilterExpression=Attr("RequestTime").gte(since))
    '''))
    report = check(LAB)
    assert statuses(report)["query-gsi"] == "pass", message(report, "query-gsi")
    text = failing(report, "query-not-scan")
    assert "rides_in_city() made a Query that read 2 items to return" in text
    assert "a FilterExpression is doing the key condition's work" in text
