"""checkers/_support/dynamodb.py, specified without an emulator (botocore's Stubber answers)."""

from __future__ import annotations

import threading
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from checkers._support import dynamodb as ddb_support


@pytest.fixture
def client():
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def test_the_recorder_sees_operation_parameters_and_counts(client):
    client.stubber.add_response("query", {"Items": [], "Count": 2, "ScannedCount": 7,
                                          "LastEvaluatedKey": {"RideId": {"S": "R-1"}}})
    with ddb_support.recording_calls() as log:
        client.query(TableName="Rides", IndexName="CityTime-index", Limit=2,
                     KeyConditionExpression="City = :c", ExpressionAttributeValues={":c": {"S": "Seattle"}})
    [call] = log.calls
    assert (call.operation, call.table, call.index, call.params["Limit"]) == ("Query", "Rides", "CityTime-index", 2)
    assert (call.count, call.scanned_count, call.last_evaluated_key, call.error) == (2, 7, True, None)


def test_the_recorder_notes_the_error_code_and_lets_the_error_through(client):
    client.stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException")
    with ddb_support.recording_calls() as log:
        with pytest.raises(ClientError):
            client.update_item(TableName="Rides", Key={"RideId": {"S": "R-1"}}, UpdateExpression="SET a = :a",
                               ExpressionAttributeValues={":a": {"S": "x"}})
    assert log.operations == ["UpdateItem"]
    assert log.calls[0].error == "ConditionalCheckFailedException"


def test_the_recorder_ignores_other_threads_other_services_and_calls_outside_the_block(client):
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                       aws_access_key_id="test", aws_secret_access_key="test")
    client.stubber.add_response("list_tables", {"TableNames": []})
    client.stubber.add_response("list_tables", {"TableNames": []})
    with Stubber(sqs) as sqs_stub:
        sqs_stub.add_response("list_queues", {})
        with ddb_support.recording_calls() as log:
            worker = threading.Thread(target=client.list_tables)
            worker.start()
            worker.join()
            sqs.list_queues()
    client.list_tables()
    assert log.calls == []


def test_nested_recordings_restore_the_outer_log(client):
    client.stubber.add_response("list_tables", {"TableNames": []})
    client.stubber.add_response("describe_limits", {})
    with ddb_support.recording_calls() as outer:
        with ddb_support.recording_calls() as inner:
            client.list_tables()
        client.describe_limits()
    assert inner.operations == ["ListTables"]
    assert outer.operations == ["DescribeLimits"]


def test_plain_accepts_resource_style_and_dynamodb_json_items_alike():
    typed = {"RideId": {"S": "R-1"}, "Fare": {"N": "24.50"}}
    resource_style = {"RideId": "R-1", "Fare": Decimal("24.5")}
    assert ddb_support.plain(typed) == ddb_support.plain(resource_style) == {"RideId": "R-1", "Fare": Decimal("24.5")}
    assert ddb_support.plain({"Fare": 24.5})["Fare"] == Decimal("24.5")
    assert ddb_support.plain(None) is None


def test_to_dynamodb_keeps_the_digits_a_number_was_written_with():
    # Decimal("20.00").normalize() is 2E+1, which moto cannot add a tip to.
    assert ddb_support.to_dynamodb({"Fare": Decimal("20.00"), "Seats": 4}) == {"Fare": {"N": "20.00"}, "Seats": {"N": "4"}}


def test_table_description_helpers():
    table = {
        "KeySchema": [{"AttributeName": "RiderId", "KeyType": "HASH"}, {"AttributeName": "RequestTime", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "RiderId", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "CityTime-index"}],
    }
    assert ddb_support.key_names(table["KeySchema"]) == ("RiderId", "RequestTime")
    assert ddb_support.attribute_types(table) == {"RiderId": "S"}
    assert ddb_support.billing_mode(table) == "PROVISIONED"  # AWS omits the summary for provisioned tables
    assert ddb_support.billing_mode({"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}) == "PAY_PER_REQUEST"
    assert ddb_support.find_index(table, "CityTime-index") == {"IndexName": "CityTime-index"}
    assert ddb_support.find_index({}, "CityTime-index") is None
    assert ddb_support.index_names(table) == ["CityTime-index"]


def test_batch_write_sends_chunks_of_25_and_resends_unprocessed_items(client):
    items = [{"RideId": f"R-{n}"} for n in range(30)]
    requests = [{"PutRequest": {"Item": ddb_support.to_dynamodb(item)}} for item in items]
    client.stubber.add_response("batch_write_item", {"UnprocessedItems": {"Rides": requests[24:25]}},
                                {"RequestItems": {"Rides": requests[:25]}})
    client.stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"Rides": requests[24:25]}})
    client.stubber.add_response("batch_write_item", {}, {"RequestItems": {"Rides": requests[25:]}})
    ddb_support.put_items(client, "Rides", items)


def test_scan_all_follows_last_evaluated_key(client):
    client.stubber.add_response("scan", {"Items": [{"RideId": {"S": "R-1"}}], "LastEvaluatedKey": {"RideId": {"S": "R-1"}}},
                                {"TableName": "Rides"})
    client.stubber.add_response("scan", {"Items": [{"RideId": {"S": "R-2"}}]},
                                {"TableName": "Rides", "ExclusiveStartKey": {"RideId": {"S": "R-1"}}})
    assert ddb_support.scan_all(client, "Rides") == [{"RideId": "R-1"}, {"RideId": "R-2"}]
