"""One shared emulator, one account per learner: learner A cannot see or change learner B's
queues, topics, tables or buckets, on either engine, through `lab cohort serve`'s gateway."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from labkit.aws import ClientFactory, Endpoint
from labkit.cohort.harness import Server, http, make_cohort
from labkit.cohort.store import CohortStore

TABLE = {"KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
         "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


@pytest.fixture(scope="module", params=["ministack", "moto"])
def shared(request, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"cohort-iso-{request.param}")
    store, _ = make_cohort(home, learners=["Ada", "Alan"], engine=request.param)
    with Server(home, engine=request.param) as server:
        ada, alan = CohortStore(store.folder).learners()
        yield server, ada, alan


def clients(server, learner) -> ClientFactory:
    return ClientFactory(Endpoint(server.url, access_key=learner.account_id))


def denied(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_each_learner_sees_only_their_own_resources(shared):
    server, ada, alan = shared
    a, b = clients(server, ada), clients(server, alan)
    queue = a.client("sqs").create_queue(QueueName="orders")["QueueUrl"]
    topic = a.client("sns").create_topic(Name="RideCompleted")["TopicArn"]
    a.client("dynamodb").create_table(TableName="rides", **TABLE)
    a.client("s3").create_bucket(Bucket=f"ada-{ada.account_id}")
    a.client("s3").put_object(Bucket=f"ada-{ada.account_id}", Key="secret.txt", Body=b"ada's")

    assert ada.account_id in queue and ada.account_id in topic
    assert a.client("sts").get_caller_identity()["Account"] == ada.account_id
    assert b.client("sts").get_caller_identity()["Account"] == alan.account_id
    assert b.client("sqs").list_queues().get("QueueUrls", []) == []
    assert b.client("sns").list_topics()["Topics"] == []
    assert b.client("dynamodb").list_tables()["TableNames"] == []
    assert b.client("s3").list_buckets()["Buckets"] == []
    # the same names are free in Alan's account (buckets excepted: one global namespace, as in AWS)
    assert alan.account_id in b.client("sqs").create_queue(QueueName="orders")["QueueUrl"]
    b.client("dynamodb").create_table(TableName="rides", **TABLE)


def test_naming_another_learners_resources_does_not_reach_them(shared):
    server, ada, alan = shared
    a, b = clients(server, ada), clients(server, alan)
    sqs_a = a.client("sqs")
    queue = sqs_a.create_queue(QueueName="payments")["QueueUrl"]
    topic = a.client("sns").create_topic(Name="Payments")["TopicArn"]
    a.client("dynamodb").create_table(TableName="payments", **TABLE)
    table_arn = a.client("dynamodb").describe_table(TableName="payments")["Table"]["TableArn"]
    bucket = f"pay-{ada.account_id}"
    a.client("s3").create_bucket(Bucket=bucket)
    a.client("s3").put_object(Bucket=bucket, Key="k", Body=b"ada's")

    sqs_b, sns_b, ddb_b, s3_b = (b.client(name) for name in ("sqs", "sns", "dynamodb", "s3"))
    assert denied(lambda: sqs_b.send_message(QueueUrl=queue, MessageBody="from alan")) == "AccessDenied"
    assert denied(lambda: sqs_b.receive_message(QueueUrl=queue)) == "AccessDenied"
    assert denied(lambda: sqs_b.delete_queue(QueueUrl=queue)) == "AccessDenied"
    assert denied(lambda: sns_b.publish(TopicArn=topic, Message="x")) == "AccessDenied"
    assert denied(lambda: sns_b.delete_topic(TopicArn=topic)) == "AccessDenied"
    assert denied(lambda: ddb_b.put_item(TableName=table_arn, Item={"k": {"S": "x"}})) in ("AccessDenied", "AccessDeniedException")
    assert denied(lambda: s3_b.get_object(Bucket=bucket, Key="k")) in ("AccessDenied", "403")
    assert denied(lambda: s3_b.put_object(Bucket=bucket, Key="k", Body=b"alan's")) in ("AccessDenied", "403")
    assert denied(lambda: s3_b.delete_object(Bucket=bucket, Key="k")) in ("AccessDenied", "403")
    # Ada's things are untouched
    assert sqs_a.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None
    assert a.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"ada's"
    assert any(t["TopicArn"] == topic for t in a.client("sns").list_topics()["Topics"])


def test_a_policy_or_subscription_pointing_into_another_account_is_refused(shared):
    server, ada, alan = shared
    a, b = clients(server, ada), clients(server, alan)
    ada_queue_arn = f"arn:aws:sqs:us-east-1:{ada.account_id}:orders-tap"
    a.client("sqs").create_queue(QueueName="orders-tap")
    topic = b.client("sns").create_topic(Name="AlanTopic")["TopicArn"]
    code = denied(lambda: b.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=ada_queue_arn))
    assert code == "AccessDenied"
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ada.account_id}:root"},
                             "Action": "sqs:*", "Resource": "*"}]}
    url = b.client("sqs").create_queue(QueueName="alan-q")["QueueUrl"]
    assert denied(lambda: b.client("sqs").set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": json.dumps(policy)})) == "AccessDenied"


def test_keys_that_are_not_a_learner_account_are_refused_with_the_fix(shared):
    server, ada, _ = shared
    for key in ("test", "000000000000", "123456789012"):
        factory = ClientFactory(Endpoint(server.url, access_key=key))
        with pytest.raises(ClientError) as caught:
            factory.client("sqs").list_queues()
        error = caught.value.response["Error"]
        assert error["Code"] in ("UnrecognizedClientException", "InvalidClientTokenId")
        assert "instruction sheet" in error["Message"]
    with pytest.raises(ClientError) as caught:
        ClientFactory(Endpoint(server.url, access_key="test")).client("s3").list_buckets()
    assert caught.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_nobody_can_reset_or_inspect_the_shared_emulator(shared):
    server, ada, _ = shared
    for path in ("/_ministack/reset", "/moto-api/reset", "/_aws/sqs/messages", "/moto-api/data.json"):
        assert http("POST", server.url + path, b"")[0] == 403
        signed = {"Authorization": f"AWS4-HMAC-SHA256 Credential={ada.account_id}/20260101/us-east-1/sqs/aws4_request, "
                                   "SignedHeaders=host, Signature=00"}
        status, _, body = http("POST", server.url + path, b"", signed)
        assert status == 403 and b"not open to learners" in body
    a = clients(server, ada)
    assert a.client("sts").get_caller_identity()["Account"] == ada.account_id  # still up, still there
