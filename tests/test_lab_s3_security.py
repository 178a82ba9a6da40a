"""s3-security, specified on both embedded engines: a fresh start fails every
learner task, the reference solution passes every task, re-checking changes
nothing and leaves no probe behind, and each wrong-but-plausible setup fails the
right task with a message that says what was found and what was expected."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from checkers import s3_security as lab_checker
from labkit import session
from tests.labtools import check, context, learner_tasks, message, start, statuses

LAB = "s3-security"
RIDES, RECEIPTS = "sensitive-rides", "sensitive-receipts"


@pytest.fixture
def solved(lab_home):
    start(LAB, lab_home)
    session.solve_lab(LAB)
    return context(LAB)


def rides_statements(ctx) -> dict[str, dict]:
    document = json.loads(ctx.client("s3").get_bucket_policy(Bucket=RIDES)["Policy"])
    return {statement["Sid"]: statement for statement in document["Statement"]}


def put_rides_policy(ctx, statements) -> None:
    ctx.client("s3").put_bucket_policy(Bucket=RIDES, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))


def replace_statement(ctx, sid: str, **changes) -> None:
    statements = rides_statements(ctx)
    statements[sid] = {**statements[sid], **changes}
    put_rides_policy(ctx, statements.values())


def snapshot(ctx) -> dict:
    """Everything a learner can see of the lab's buckets."""
    s3 = ctx.client("s3")
    seen = {"buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"])}
    for name in (RIDES, RECEIPTS):
        state = lab_checker.s3s.read_bucket(s3, name, acl=True)
        seen[name] = {
            "objects": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])),
            "policy": state.policy, "encryption": state.encryption,
            "block": state.public_access_block, "ownership": state.ownership,
        }
    return seen


# -- the whole lab ---------------------------------------------------------------------------------
def test_fresh_start_fails_every_learner_task_with_its_own_message(lab_home):
    lab = start(LAB, lab_home)
    report = check(LAB)
    results = statuses(report)
    assert results["deploy-stack"] == "pass", message(report, "deploy-stack")
    assert all(results[task] == "fail" for task in learner_tasks(lab)), [(t.id, t.status, t.message) for t in report.tasks]
    if lab_home.engine == "ministack":  # it reports AES256 for every bucket but does not apply it
        assert "head-object shows no ServerSideEncryption" in message(report, "default-encryption")
    else:
        assert "has no default encryption configured" in message(report, "default-encryption")
    assert "expected SSE-KMS (aws:kms) with the lab key alias/receipts-key" in message(report, "kms-encryption")
    assert "sensitive-rides has no bucket policy yet" in message(report, "enforce-https")
    assert "no Block Public Access configuration" in message(report, "block-public-access")
    assert "find_public_buckets() is not implemented yet" in message(report, "find-public-buckets")
    assert "statement 'PublicReceiptLinks' Allows * to s3:GetObject" in message(report, "access-review")


def test_reference_solution_passes_and_rechecking_changes_nothing(solved):
    ctx = solved
    before = snapshot(ctx)
    first = check(LAB)
    assert all(task.status == "pass" for task in first.tasks), [(t.id, t.message) for t in first.tasks]
    second = check(LAB)
    assert [(t.id, t.status, t.message) for t in second.tasks] == [(t.id, t.status, t.message) for t in first.tasks]
    after = snapshot(ctx)
    assert after == before  # no probe object, no probe bucket, no setting changed
    assert not [b for b in after["buckets"] if b.startswith("lab-probe-")]
    if ctx.backend == "moto":  # moto refuses the header-less probe under the conditional Denies
        assert "graded on the configuration alone" in message(first, "default-encryption")
    else:
        assert "came back with ServerSideEncryption AES256" in message(first, "default-encryption")


def test_starting_again_keeps_the_learners_work(solved):
    before = snapshot(solved)
    session.start_lab(LAB, backend=solved.backend)
    assert snapshot(solved) == before


def test_reset_removes_the_lab(solved):
    check(LAB, "find-public-buckets")
    session.reset_lab(LAB)
    ctx = context(LAB)
    names = [b["Name"] for b in ctx.client("s3").list_buckets()["Buckets"]]
    assert RIDES not in names and RECEIPTS not in names
    assert lab_checker.stack_outputs(ctx)[0] is None
    assert lab_checker.lab_key(ctx.client("kms")) is None
    session.start_lab(LAB, backend=ctx.backend)  # and the lab can start over
    assert statuses(check(LAB, "deploy-stack"))["deploy-stack"] == "pass"


# -- encryption ------------------------------------------------------------------------------------
def test_sse_kms_variants_that_miss_the_point_fail(solved):
    s3 = solved.client("s3")

    def receipts_rule(rule):
        s3.put_bucket_encryption(Bucket=RECEIPTS, ServerSideEncryptionConfiguration={"Rules": [rule]})
        return message(check(LAB, "kms-encryption"), "kms-encryption")

    assert "the AWS managed key aws/s3" in receipts_rule(
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True})
    assert "without an S3 Bucket Key" in receipts_rule(
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/receipts-key"}})
    other = solved.client("kms").create_key(Description="not the lab key")["KeyMetadata"]["Arn"]
    text = receipts_rule({"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": other},
                          "BucketKeyEnabled": True})
    assert f"encrypts with the KMS key {other}" in text and "expected the lab key alias/receipts-key" in text
    assert "encrypts by default with AES256" in receipts_rule({"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}})


def test_sse_kms_by_key_arn_passes(solved):
    s3 = solved.client("s3")
    arn = lab_checker.lab_key(solved.client("kms"))["Arn"]
    s3.put_bucket_encryption(Bucket=RECEIPTS, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn}, "BucketKeyEnabled": True}]})
    assert statuses(check(LAB, "kms-encryption"))["kms-encryption"] == "pass"


def test_rides_bucket_on_sse_kms_fails_default_encryption(solved):
    solved.client("s3").put_bucket_encryption(Bucket=RIDES, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/receipts-key"}}]})
    report = check(LAB, "default-encryption")
    assert statuses(report)["default-encryption"] == "fail"
    assert "encrypts by default with aws:kms; expected SSE-S3 (AES256)" in message(report, "default-encryption")


# -- the bucket policy: HTTPS only -------------------------------------------------------------------
def test_allow_on_secure_transport_true_instead_of_a_deny_fails(solved):
    statements = rides_statements(solved)
    del statements["DenyInsecureTransport"]
    statements["AllowTLS"] = {"Sid": "AllowTLS", "Effect": "Allow", "Principal": "*", "Action": "s3:*",
                              "Resource": ["arn:aws:s3:::sensitive-rides", "arn:aws:s3:::sensitive-rides/*"],
                              "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    # That Allow is public (anyone may use HTTPS): with BlockPublicPolicy on, ministack refuses it, as AWS does.
    solved.client("s3").delete_public_access_block(Bucket=RIDES)
    put_rides_policy(solved, statements.values())
    report = check(LAB, "enforce-https")
    assert statuses(report)["enforce-https"] == "fail"
    text = message(report, "enforce-https")
    assert "Your policy allows a plain-HTTP GetObject by the rides-app role" in text
    assert "statement 'AllowTLS' Allows when aws:SecureTransport is true but nothing Denies when it is false" in text
    assert ("Expected a Deny on s3:* for arn:aws:s3:::sensitive-rides and arn:aws:s3:::sensitive-rides/* "
            "when aws:SecureTransport is false") in text


def test_https_deny_on_the_bucket_arn_only_fails(solved):
    replace_statement(solved, "DenyInsecureTransport", Resource="arn:aws:s3:::sensitive-rides")
    report = check(LAB, "enforce-https")
    assert statuses(report)["enforce-https"] == "fail"
    text = message(report, "enforce-https")
    assert "statement 'DenyInsecureTransport' Denies plain HTTP on arn:aws:s3:::sensitive-rides only" in text
    assert "objects are arn:aws:s3:::sensitive-rides/*" in text


def test_https_deny_on_true_instead_of_false_fails(solved):
    replace_statement(solved, "DenyInsecureTransport", Condition={"Bool": {"aws:SecureTransport": "true"}})
    report = check(LAB, "enforce-https")
    assert statuses(report)["enforce-https"] == "fail"
    assert "does not deny a plain-HTTP GetObject" in message(report, "enforce-https")


def test_malformed_policy_fails_every_policy_task(solved):
    statements = rides_statements(solved)
    statements["DenyInsecureTransport"].pop("Principal")
    put_rides_policy(solved, statements.values())
    report = check(LAB)
    for task in ("enforce-https", "deny-unencrypted-uploads", "vpc-endpoint-only"):
        assert statuses(report)[task] == "fail"
        assert "statement 'DenyInsecureTransport' has no Principal" in message(report, task)
        assert "S3 would refuse it" in message(report, task)
    session.solve_lab(LAB)
    replace_statement(solved, "DenyOutsideVpcEndpoint", Condition={"StringNotEqual": {"aws:SourceVpce": "vpce-1"}})
    report = check(LAB, "vpc-endpoint-only")
    assert statuses(report)["vpc-endpoint-only"] == "fail"
    assert "unknown condition operator 'StringNotEqual'" in message(report, "vpc-endpoint-only")


# -- the bucket policy: encryption header -------------------------------------------------------------
def test_header_deny_with_string_not_equals_on_the_wrong_algorithm_fails(solved):
    replace_statement(solved, "DenyIncorrectEncryptionHeader",
                      Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}})
    report = check(LAB, "deny-unencrypted-uploads")
    assert statuses(report)["deny-unencrypted-uploads"] == "fail"
    text = message(report, "deny-unencrypted-uploads")
    assert "denies an HTTPS PutObject with x-amz-server-side-encryption: AES256" in text
    assert "statement 'DenyIncorrectEncryptionHeader'" in text and "compares the header with aws:kms" in text
    assert "It also lets an upload with aws:kms through." in text


def test_header_presence_check_alone_fails(solved):
    statements = rides_statements(solved)
    del statements["DenyIncorrectEncryptionHeader"]
    put_rides_policy(solved, statements.values())
    report = check(LAB, "deny-unencrypted-uploads")
    assert statuses(report)["deny-unencrypted-uploads"] == "fail"
    assert "does not deny an HTTPS PutObject with x-amz-server-side-encryption: aws:kms" in message(
        report, "deny-unencrypted-uploads")


def test_header_denies_on_the_bucket_arn_fail(solved):
    for sid in ("DenyIncorrectEncryptionHeader", "DenyUnencryptedObjectUploads"):
        replace_statement(solved, sid, Resource="arn:aws:s3:::sensitive-rides")
    report = check(LAB, "deny-unencrypted-uploads")
    assert "uploads are requests on arn:aws:s3:::sensitive-rides/*" in message(report, "deny-unencrypted-uploads")


# -- Block Public Access and ACLs --------------------------------------------------------------------
def test_three_of_four_public_access_flags_fail(solved):
    s3 = solved.client("s3")
    s3.put_public_access_block(Bucket=RECEIPTS, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    report = check(LAB, "block-public-access")
    assert statuses(report)["block-public-access"] == "fail"
    assert "sensitive-receipts blocks only 3 of 4: RestrictPublicBuckets is false or unset" in message(
        report, "block-public-access")


def test_acls_still_enabled_fails(solved):
    solved.client("s3").put_bucket_ownership_controls(
        Bucket=RIDES, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    report = check(LAB, "block-public-access")
    assert "sensitive-rides has Object Ownership BucketOwnerPreferred, so ACLs still apply" in message(
        report, "block-public-access")


# -- VPC endpoint -------------------------------------------------------------------------------------
def test_vpce_deny_without_the_admin_exception_fails(solved):
    vpce = lab_checker.read_lab(solved).vpce_id
    replace_statement(solved, "DenyOutsideVpcEndpoint", Condition={"StringNotEquals": {"aws:SourceVpce": vpce}})
    report = check(LAB, "vpc-endpoint-only")
    assert statuses(report)["vpc-endpoint-only"] == "fail"
    text = message(report, "vpc-endpoint-only")
    assert "Your policy would lock the admin out: an HTTPS PutBucketPolicy by the lab-admin role from the internet" in text
    assert "ArnNotEquals aws:PrincipalArn" in text


def test_vpce_condition_on_source_vpc_instead_of_source_vpce_fails(solved):
    lab = lab_checker.read_lab(solved)
    for value in (lab.vpce_id, lab.vpc_id):  # the endpoint id in the wrong key, or the VPC id
        replace_statement(solved, "DenyOutsideVpcEndpoint", Condition={
            "StringNotEquals": {"aws:SourceVpc": value}, "ArnNotEquals": {"aws:PrincipalArn": lab.admin_arn}})
        report = check(LAB, "vpc-endpoint-only")
        assert statuses(report)["vpc-endpoint-only"] == "fail"
        text = message(report, "vpc-endpoint-only")
        assert "tests aws:SourceVpc" in text and f"Use aws:SourceVpce = {lab.vpce_id}" in text
        if value == lab.vpc_id:
            assert "does not deny an HTTPS GetObject by the rides-app role through another S3 endpoint" in text
        else:
            assert f"denies an HTTPS GetObject by the rides-app role through the lab endpoint {lab.vpce_id}" in text


def test_vpce_admin_exception_by_not_principal_role_arn_fails(solved):
    lab = lab_checker.read_lab(solved)
    statement = {**rides_statements(solved)["DenyOutsideVpcEndpoint"], "NotPrincipal": {"AWS": lab.admin_arn},
                 "Condition": {"StringNotEquals": {"aws:SourceVpce": lab.vpce_id}}}
    del statement["Principal"]
    statements = rides_statements(solved)
    statements["DenyOutsideVpcEndpoint"] = statement
    put_rides_policy(solved, statements.values())
    text = message(check(LAB, "vpc-endpoint-only"), "vpc-endpoint-only")
    assert "lock the admin out" in text and "NotPrincipal only spares a role session" in text


def test_missing_vpce_statement_fails(solved):
    statements = rides_statements(solved)
    del statements["DenyOutsideVpcEndpoint"]
    put_rides_policy(solved, statements.values())
    text = message(check(LAB, "vpc-endpoint-only"), "vpc-endpoint-only")
    assert "does not deny an HTTPS GetObject by the rides-app role from the internet" in text


# -- finding public buckets, and the access review ------------------------------------------------------
NAIVE_AUDIT = '''
import json, boto3

def find_public_buckets(s3=None):
    s3 = s3 or boto3.client("s3")
    found = []
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            document = json.loads(s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"])
        except s3.exceptions.ClientError:
            continue
        if any(st.get("Principal") == "*" for st in document["Statement"]):
            found.append(bucket["Name"])
    return found
'''

STATUS_ONLY_AUDIT = '''
import boto3

def find_public_buckets(s3=None):
    s3 = s3 or boto3.client("s3")
    found = []
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            status = s3.get_bucket_policy_status(Bucket=bucket["Name"])["PolicyStatus"]
        except s3.exceptions.ClientError:
            continue
        if status.get("IsPublic"):
            found.append(bucket["Name"])
    return found
'''


def test_find_public_buckets_that_flags_any_star_principal_fails(solved):
    (solved.workspace / "bucket_audit.py").write_text(NAIVE_AUDIT)
    report = check(LAB, "find-public-buckets")
    assert statuses(report)["find-public-buckets"] == "fail"
    assert "-private as public, but its only statement is a Deny for Principal *" in message(
        report, "find-public-buckets")
    assert not [b for b in snapshot(solved)["buckets"] if b.startswith("lab-probe-")]


def test_find_public_buckets_relying_on_policy_status_alone(solved):
    (solved.workspace / "bucket_audit.py").write_text(STATUS_ONLY_AUDIT)
    report = check(LAB, "find-public-buckets")
    if solved.backend == "ministack":  # empty PolicyStatus: the public probe goes unnoticed
        assert statuses(report)["find-public-buckets"] == "fail"
        assert "reported neither, expected lab-probe-" in message(report, "find-public-buckets")
        assert "get-bucket-policy-status returns no IsPublic" in message(report, "find-public-buckets")
    else:
        assert statuses(report)["find-public-buckets"] == "pass"


def test_find_public_buckets_returning_garbage_fails(solved):
    (solved.workspace / "bucket_audit.py").write_text("def find_public_buckets(s3=None):\n    return 'all of them'\n")
    report = check(LAB, "find-public-buckets")
    assert "returned 'all of them'; expected a list of bucket names" in message(report, "find-public-buckets")


def test_access_review_report_and_task(lab_home):
    start(LAB, lab_home)
    _, name, text = session.run_report(LAB, "access-review")
    assert name == "access-review"
    assert "## sensitive-receipts: PUBLIC" in text
    assert "`PublicReceiptLinks`: Allow * s3:GetObject on arn:aws:s3:::sensitive-receipts/receipts/*, with no condition. **PUBLIC**" in text
    assert "## sensitive-rides: not public" in text
    # A conditioned `*` Allow is listed but is not public; an unconditioned Allow to a role is flagged for review.
    ctx = context(LAB)
    lab = lab_checker.read_lab(ctx)
    ctx.client("s3").put_bucket_policy(Bucket=RECEIPTS, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReceiptsFromTheVpc", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::sensitive-receipts/*", "Condition": {"StringEquals": {"aws:SourceVpce": lab.vpce_id}}},
        {"Sid": "AppReads", "Effect": "Allow", "Principal": {"AWS": lab.app_arn}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::sensitive-receipts/*"}]}))
    _, _, text = session.run_report(LAB, "access-review")
    assert "## sensitive-receipts: not public" in text
    assert f"`*` principal: restricted by aws:SourceVpce = {lab.vpce_id}" in text
    assert "`AppReads`" in text and "**Allow without conditions**: check that this principal needs all of it" in text
    assert statuses(check(LAB, "access-review"))["access-review"] == "pass"
    # An Allow to * that only requires HTTPS is still public.
    ctx.client("s3").put_bucket_policy(Bucket=RECEIPTS, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "HttpsLinks", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::sensitive-receipts/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}))
    report = check(LAB, "access-review")
    assert statuses(report)["access-review"] == "fail"
    assert "under conditions anyone can meet (Bool aws:SecureTransport = true)" in message(report, "access-review")


def test_public_acl_on_a_sensitive_bucket_fails_the_access_review(lab_home):
    start(LAB, lab_home)
    s3 = context(LAB).client("s3")
    s3.delete_bucket_policy(Bucket=RECEIPTS)
    s3.put_bucket_acl(Bucket=RIDES, ACL="public-read")  # the 2021 bucket still has ACLs enabled
    report = check(LAB, "access-review")
    assert statuses(report)["access-review"] == "fail"
    assert "sensitive-rides is public: its ACL grants READ to everyone (AllUsers)" in message(report, "access-review")


def test_block_public_policy_is_enforced_on_ministack_only(solved):
    try:
        solved.client("s3").put_bucket_policy(Bucket=RECEIPTS, Policy=json.dumps(lab_checker.LEGACY_RECEIPTS_POLICY))
        refused = False
    except ClientError:
        refused = True
    assert refused is (solved.backend == "ministack")  # what the README tells learners
