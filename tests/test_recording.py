"""labkit/recording.py, specified without an emulator (botocore's Stubber answers)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from labkit.recording import recording


def _client(service: str):
    return boto3.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture
def ddb():
    client = _client("dynamodb")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def test_a_request_is_recorded_with_its_parameters_and_its_answer(ddb):
    ddb.stubber.add_response("query", {"Items": [], "Count": 2, "ScannedCount": 7,
                                       "LastEvaluatedKey": {"RideId": {"S": "R-1"}}})
    with recording() as log:
        ddb.query(TableName="Rides", IndexName="CityTime-index", Limit=2,
                  KeyConditionExpression="City = :c", ExpressionAttributeValues={":c": {"S": "Seattle"}})
    [request] = log.requests
    assert (request.service, request.operation, request.get("IndexName"), request.get("Limit")) == \
        ("dynamodb", "Query", "CityTime-index", 2)
    assert request.response == {"Items": [], "Count": 2, "ScannedCount": 7, "LastEvaluatedKey": {"RideId": {"S": "R-1"}}}
    assert request.error is None


def test_resource_calls_are_recorded_as_sent_on_the_wire():
    table = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                           aws_access_key_id="test", aws_secret_access_key="test").Table("Rides")
    with Stubber(table.meta.client) as stubber:
        stubber.add_response("query", {"Items": [], "Count": 0, "ScannedCount": 0})
        with recording() as log:
            table.query(KeyConditionExpression=Key("City").eq("Seattle"))
    [request] = log.requests
    assert request.get("KeyConditionExpression") == "#n0 = :v0"
    assert request.get("ExpressionAttributeNames") == {"#n0": "City"}
    assert request.get("ExpressionAttributeValues") == {":v0": {"S": "Seattle"}}


def test_a_failed_request_keeps_its_error_code_and_the_error_goes_through(ddb):
    ddb.stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException")
    with recording() as log:
        with pytest.raises(ClientError):
            ddb.update_item(TableName="Rides", Key={"RideId": {"S": "R-1"}}, UpdateExpression="SET a = :a",
                            ExpressionAttributeValues={":a": {"S": "x"}})
    assert log.operations == ["UpdateItem"]
    assert log.requests[0].error == "ConditionalCheckFailedException"


def test_threads_started_inside_the_block_are_recorded_other_threads_are_not(ddb):
    for _ in range(4):
        ddb.stubber.add_response("list_tables", {"TableNames": []})
    outside = ThreadPoolExecutor(max_workers=1)
    outside.submit(lambda: None).result()  # its worker thread exists before the block
    with recording() as log:
        worker = threading.Thread(target=ddb.list_tables)
        worker.start()
        worker.join()
        with ThreadPoolExecutor(max_workers=2) as pool:  # learner code that parallelises its reads
            list(pool.map(lambda _: ddb.list_tables(), range(2)))
        outside.submit(ddb.list_tables).result()
    outside.shutdown()
    assert log.operations == ["ListTables"] * 3


def test_calls_outside_the_block_and_other_services_when_named_pass_through(ddb):
    sqs = _client("sqs")
    ddb.stubber.add_response("list_tables", {"TableNames": []})
    ddb.stubber.add_response("list_tables", {"TableNames": []})
    with Stubber(sqs) as sqs_stub:
        sqs_stub.add_response("list_queues", {})
        with recording("dynamodb") as log:
            ddb.list_tables()
            sqs.list_queues()
    ddb.list_tables()
    assert [(r.service, r.operation) for r in log] == [("dynamodb", "ListTables")]


def test_every_service_is_recorded_when_none_is_named(ddb):
    sqs = _client("sqs")
    ddb.stubber.add_response("list_tables", {"TableNames": []})
    with Stubber(sqs) as sqs_stub:
        sqs_stub.add_response("list_queues", {})
        with recording() as log:
            ddb.list_tables()
            sqs.list_queues()
    assert [(r.service, r.operation) for r in log] == [("dynamodb", "ListTables"), ("sqs", "ListQueues")]
    assert log.of(service="sqs")[0].operation == "ListQueues"


def test_nested_recordings_restore_the_outer_log(ddb):
    ddb.stubber.add_response("list_tables", {"TableNames": []})
    ddb.stubber.add_response("describe_limits", {})
    with recording() as outer:
        with recording() as inner:
            ddb.list_tables()
        ddb.describe_limits()
    assert inner.operations == ["ListTables"]
    assert outer.operations == ["DescribeLimits"]
