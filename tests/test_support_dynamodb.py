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
