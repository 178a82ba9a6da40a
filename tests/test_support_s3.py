"""checkers/_support/s3.py: what counts as public, the request builder, the
matrix runner, the access-review findings and the bucket reads (stubbed)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from checkers._support import policy
from checkers._support import s3 as s3s

BUCKET = "sensitive-receipts"
ARN = f"arn:aws:s3:::{BUCKET}"


def statement(**extra) -> dict:
    return {"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{ARN}/*", **extra}


def doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# -- the meaning of public -------------------------------------------------------------------
@pytest.mark.parametrize("stmt", [
    statement(),
    statement(Principal={"AWS": "*"}),
    statement(Principal={"AWS": ["arn:aws:iam::111122223333:root", "*"]}),
    statement(Condition={"Bool": {"aws:SecureTransport": "true"}}),  # anyone can use HTTPS
    statement(Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),  # negated: restricts nobody
    statement(Condition={"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}),  # absent key passes
    statement(Condition={"StringLike": {"aws:SourceVpce": "vpce-*"}}),  # wildcard: not a fixed value
    statement(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
    statement(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/7"}}),  # wider than /8
    statement(Condition={"StringLike": {"aws:Referer": "https://rides.example/*"}}),  # spoofable
    {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject",
     "Resource": f"{ARN}/*"},
])
def test_public_statements(stmt):
    assert [name for name, _, _ in s3s.public_statements(doc(stmt))] == [stmt.get("Sid", "statement 1")]


@pytest.mark.parametrize("stmt", [
    statement(Effect="Deny"),
    statement(Principal={"AWS": "arn:aws:iam::111122223333:role/rides-app"}),
    statement(Principal={"Service": "cloudfront.amazonaws.com"},
              Condition={"StringEquals": {"aws:SourceArn": "arn:aws:cloudfront::111122223333:distribution/E1"}}),
    statement(Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}),
    statement(Condition={"StringEquals": {"aws:SourceVpc": ["vpc-1", "vpc-2"]}}),
    statement(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
    statement(Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}),
    statement(Condition={"StringLike": {"aws:userid": "AROAEXAMPLE:*"}}),
    statement(Condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/lab-admin"}}),
])
def test_not_public_statements(stmt):
    assert s3s.public_statements(doc(stmt)) == []


def test_public_reason_names_principal_action_resource_and_conditions():
    (_, _, why), = s3s.public_statements(doc(statement(Condition={"Bool": {"aws:SecureTransport": "true"}})))
    assert why == (f"Allows * to s3:GetObject on {ARN}/* under conditions anyone can meet "
                   "(Bool aws:SecureTransport = true)")


def test_review_policy_findings():
    findings = {f.name: f for f in s3s.review_policy(doc(
        statement(Sid="Public"),
        statement(Sid="Pinned", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}),
        statement(Sid="Guardrail", Effect="Deny", Action="s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
        statement(Sid="Owner", Principal={"AWS": "arn:aws:iam::111122223333:role/lab-admin"}),
        statement(Sid="Vendor", Principal={"AWS": "arn:aws:iam::999999999999:root"},
                  Condition={"Bool": {"aws:SecureTransport": "true"}}),
        statement(Sid="Conditioned", Principal={"AWS": "arn:aws:iam::111122223333:role/x"},
                  Condition={"Bool": {"aws:SecureTransport": "true"}}),
    ), owner_account="111122223333")}
    assert {name: f.finding for name, f in findings.items()} == {
        "Public": "public", "Pinned": "wildcard-restricted", "Guardrail": "wildcard-deny",
        "Owner": "unconditioned-allow", "Vendor": "cross-account", "Conditioned": "ok"}
    assert "aws:SourceVpce = vpce-1" in findings["Pinned"].note
    assert "999999999999" in findings["Vendor"].note


def test_lint_bucket_policy():
    good = doc(statement(Resource=[ARN, f"{ARN}/*"]))
    assert s3s.lint_bucket_policy(good, BUCKET) == []
    no_principal = {k: v for k, v in statement().items() if k != "Principal"}
    problems = s3s.lint_bucket_policy(doc(no_principal, statement(Sid="Other", Resource="arn:aws:s3:::elsewhere/*")), BUCKET)
    assert problems == [
        "statement 'S' has no Principal (S3 rejects a bucket policy statement without one)",
        f"statement 'Other' names arn:aws:s3:::elsewhere/*, which is not this bucket ({ARN} or {ARN}/*)",
    ]


# -- requests and matrices ----------------------------------------------------------------------
def test_role_caller_and_s3_request():
    app = s3s.role_caller("the rides-app role", "arn:aws:iam::111122223333:role/rides-app", "AROAEXAMPLE", "i-1")
    assert app.principal == {"AWS": "arn:aws:sts::111122223333:assumed-role/rides-app/i-1"}
    assert app.context["aws:userid"] == "AROAEXAMPLE:i-1"
    endpoint = s3s.via_endpoint("vpce-1", "vpc-1")
    put = s3s.s3_request("s3:PutObject", BUCKET, "a/b.txt", caller=app, network=endpoint, secure=False, sse="AES256")
    assert put.resource == f"{ARN}/a/b.txt"
    assert put.context["aws:SecureTransport"] == "false"
    assert put.context["s3:x-amz-server-side-encryption"] == "AES256"
    assert put.context["aws:SourceVpce"] == "vpce-1" and put.context["aws:PrincipalArn"].endswith("role/rides-app")
    listing = s3s.s3_request("s3:ListBucket", BUCKET, caller=s3s.ANONYMOUS, network=s3s.INTERNET)
    assert listing.resource == ARN and listing.principal == "*" and "aws:SourceVpce" not in listing.context


def test_check_matrix_reports_only_the_rows_that_miss():
    deny_http = doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [ARN, f"{ARN}/*"],
                     "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    get = lambda secure: s3s.s3_request("s3:GetObject", BUCKET, "k", caller=s3s.ANONYMOUS, network=s3s.INTERNET,  # noqa: E731
                                        secure=secure)
    rows = [s3s.Row("http", get(False), "deny"), s3s.Row("https", get(True), "not-deny"),
            s3s.Row("https allowed", get(True), "allow"), s3s.Row("http not allowed", get(False), "not-allow")]
    misses = s3s.check_matrix(deny_http, rows)
    assert [m.row.label for m in misses] == ["https allowed"]
    assert misses[0].decision.effect == policy.IMPLICIT_DENY


def test_public_acl_grants():
    grants = [
        {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": s3s.ALL_USERS}, "Permission": "READ"},
        {"Grantee": {"Type": "Group", "URI": s3s.AUTHENTICATED_USERS}, "Permission": "WRITE"},
    ]
    assert [s3s.describe_grant(g) for g in s3s.public_acl_grants(grants)] == [
        "READ to everyone (AllUsers)", "WRITE to any AWS account (AuthenticatedUsers)"]


# -- reads, against a stubbed client --------------------------------------------------------------
@pytest.fixture
def stubbed():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                          endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stub:
        yield client, stub


def test_read_bucket_turns_not_configured_into_none(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy")
    stub.add_client_error("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError")
    stub.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": {"BlockPublicAcls": True}})
    stub.add_client_error("get_bucket_ownership_controls", "OwnershipControlsNotFoundError")
    state = s3s.read_bucket(client, BUCKET)
    assert state.exists and state.policy is None and state.encryption is None and state.ownership is None
    assert state.flag("BlockPublicAcls") and not state.flag("RestrictPublicBuckets")


def test_read_bucket_of_a_missing_bucket(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_bucket_policy", "NoSuchBucket")
    assert not s3s.read_bucket(client, BUCKET).exists


def test_encryption_probe_reads_back_and_deletes(stubbed):
    client, stub = stubbed
    stub.add_response("put_object", {}, {"Bucket": BUCKET, "Key": "p", "Body": b"lab check probe: default encryption\n"})
    stub.add_response("head_object", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/k",
                                      "BucketKeyEnabled": True})
    stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": "p"})
    probe = s3s.probe_default_encryption(client, BUCKET, "p")
    assert (probe.algorithm, probe.kms_key, probe.bucket_key, probe.stored, probe.leftover) == (
        "aws:kms", "alias/k", True, True, False)
    stub.assert_no_pending_responses()


def test_encryption_probe_refused_by_a_policy(stubbed):
    client, stub = stubbed
    stub.add_client_error("put_object", "AccessDenied", "Access Denied", http_status_code=403)
    probe = s3s.probe_default_encryption(client, BUCKET, "p")
    assert not probe.stored and probe.refused == "AccessDenied: Access Denied"
