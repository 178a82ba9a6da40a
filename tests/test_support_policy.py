"""The resource-policy evaluator (checkers/_support/policy.py), specified over
S3 request matrices: HTTP vs HTTPS, the SSE header present / absent / wrong,
inside or outside the VPC endpoint, the admin role vs another principal.

Pure tests: no emulator. The sns-fanout lab's use (queue policies for
sns.amazonaws.com with aws:SourceArn) is covered at the end and by
tests/test_lab_sns_fanout.py -k policy.
"""

from __future__ import annotations

import json

import pytest

from checkers._support import policy
from checkers._support.policy import ALLOW, DENY, IMPLICIT_DENY, Request

ACCOUNT = "111122223333"
BUCKET = "sensitive-rides"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
OBJECT_ARN = f"{BUCKET_ARN}/rides/ride-1.json"
VPCE, VPC = "vpce-0abc1234def567890", "vpc-0123456789abcdef0"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/lab-admin"
ADMIN_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/lab-admin/alice"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/rides-app"
APP_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/rides-app/i-0123"


def s3(action: str, *, obj: bool = True, who: str = "app", https: bool = True, sse: str | None = None,
       vpce: str | None = VPCE, vpc: str | None = VPC) -> Request:
    """One S3 request as the checker builds them."""
    role, session = {"app": (APP_ROLE, APP_SESSION), "admin": (ADMIN_ROLE, ADMIN_SESSION)}.get(who, (None, None))
    context = {"aws:SecureTransport": "true" if https else "false"}
    if role:
        context.update({"aws:PrincipalArn": role, "aws:PrincipalAccount": ACCOUNT})
    if vpce:
        context["aws:SourceVpce"] = vpce
    if vpc:
        context["aws:SourceVpc"] = vpc
    if sse is not None:
        context["s3:x-amz-server-side-encryption"] = sse
    return Request(action=action, resource=OBJECT_ARN if obj else BUCKET_ARN,
                   principal={"AWS": session} if session else "*", context=context)


def doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TLS_DENY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
WRONG_HEADER = {"Sid": "DenyIncorrectEncryptionHeader", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                "Resource": f"{BUCKET_ARN}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}
NO_HEADER = {"Sid": "DenyUnencryptedObjectUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": f"{BUCKET_ARN}/*", "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}}
VPCE_DENY = {"Sid": "DenyOutsideVpcEndpoint", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
             "Condition": {"StringNotEquals": {"aws:SourceVpce": VPCE}, "ArnNotEquals": {"aws:PrincipalArn": ADMIN_ROLE}}}


def effect(document, request) -> str:
    return policy.evaluate(document, request).effect


# -- HTTPS only ------------------------------------------------------------------------
@pytest.mark.parametrize("action,obj", [("s3:GetObject", True), ("s3:PutObject", True), ("s3:ListBucket", False)])
@pytest.mark.parametrize("who", ["app", "admin", "anonymous"])
def test_tls_deny_refuses_plain_http_on_bucket_and_objects_for_everyone(action, obj, who):
    assert effect(doc(TLS_DENY), s3(action, obj=obj, who=who, https=False)) == DENY
    assert effect(doc(TLS_DENY), s3(action, obj=obj, who=who, https=True)) == IMPLICIT_DENY


def test_tls_condition_given_as_json_boolean_works_too():
    statement = {**TLS_DENY, "Condition": {"Bool": {"aws:SecureTransport": False}}}
    assert effect(doc(statement), s3("s3:GetObject", https=False)) == DENY
    assert effect(doc(statement), s3("s3:GetObject", https=True)) == IMPLICIT_DENY


def test_allow_on_secure_transport_true_never_denies_plain_http():
    allow_tls = {"Sid": "AllowTLS", "Effect": "Allow", "Principal": "*", "Action": "s3:*",
                 "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"], "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    http = policy.evaluate(doc(allow_tls), s3("s3:GetObject", https=False))
    assert http.effect == IMPLICIT_DENY  # not an explicit Deny: an identity policy still lets it through
    assert effect(doc(allow_tls), s3("s3:GetObject", https=True)) == ALLOW


def test_tls_deny_on_the_bucket_arn_only_leaves_objects_open():
    bucket_only = {**TLS_DENY, "Resource": BUCKET_ARN}
    assert effect(doc(bucket_only), s3("s3:ListBucket", obj=False, https=False)) == DENY
    assert effect(doc(bucket_only), s3("s3:GetObject", https=False)) == IMPLICIT_DENY


def test_resource_wildcards_follow_arn_globbing():
    prefix = {**TLS_DENY, "Resource": f"{BUCKET_ARN}*"}  # the bucket and everything in it (and similarly named buckets)
    assert effect(doc(prefix), s3("s3:GetObject", https=False)) == DENY
    assert effect(doc(prefix), s3("s3:ListBucket", obj=False, https=False)) == DENY
    other = Request("s3:GetObject", "arn:aws:s3:::other-bucket/x", "*", {"aws:SecureTransport": "false"})
    assert effect(doc(prefix), other) == IMPLICIT_DENY


# -- the encryption header -------------------------------------------------------------
@pytest.mark.parametrize("sse,expected", [(None, DENY), ("aws:kms", DENY), ("aws:kms:dsse", DENY), ("AES256", IMPLICIT_DENY)])
def test_header_statements_deny_missing_and_wrong_algorithms(sse, expected):
    assert effect(doc(WRONG_HEADER, NO_HEADER), s3("s3:PutObject", sse=sse)) == expected


def test_string_not_equals_alone_also_denies_a_missing_header():
    # A negated operator is true when the key is absent (AWS documents this).
    assert effect(doc(WRONG_HEADER), s3("s3:PutObject", sse=None)) == DENY


def test_null_alone_lets_any_algorithm_through():
    assert effect(doc(NO_HEADER), s3("s3:PutObject", sse=None)) == DENY
    assert effect(doc(NO_HEADER), s3("s3:PutObject", sse="aws:kms")) == IMPLICIT_DENY


def test_string_not_equals_on_the_wrong_algorithm_inverts_the_rule():
    wrong = {**WRONG_HEADER, "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}}
    assert effect(doc(wrong), s3("s3:PutObject", sse="AES256")) == DENY
    assert effect(doc(wrong), s3("s3:PutObject", sse="aws:kms")) == IMPLICIT_DENY


def test_header_statements_do_not_touch_reads():
    assert effect(doc(WRONG_HEADER, NO_HEADER), s3("s3:GetObject")) == IMPLICIT_DENY


def test_condition_keys_are_case_insensitive():
    shouting = {**NO_HEADER, "Condition": {"Null": {"S3:X-Amz-Server-Side-Encryption": "true"}}}
    assert effect(doc(shouting), s3("s3:PutObject", sse=None)) == DENY
    assert effect(doc(shouting), s3("s3:PutObject", sse="AES256")) == IMPLICIT_DENY


# -- VPC endpoint with an admin exception ------------------------------------------------
def test_vpce_deny_with_admin_exception():
    policy_doc = doc(VPCE_DENY)
    assert effect(policy_doc, s3("s3:GetObject", who="app")) == IMPLICIT_DENY  # through the endpoint
    assert effect(policy_doc, s3("s3:GetObject", who="app", vpce=None, vpc=None)) == DENY  # from the internet
    assert effect(policy_doc, s3("s3:GetObject", who="app", vpce="vpce-0other")) == DENY  # another endpoint
    for action, obj in (("s3:GetObject", True), ("s3:PutBucketPolicy", False), ("s3:DeleteBucketPolicy", False)):
        assert effect(policy_doc, s3(action, obj=obj, who="admin", vpce=None, vpc=None)) == IMPLICIT_DENY


def test_vpce_deny_without_the_exception_locks_the_admin_out():
    no_exception = {**VPCE_DENY, "Condition": {"StringNotEquals": {"aws:SourceVpce": VPCE}}}
    assert effect(doc(no_exception), s3("s3:PutBucketPolicy", obj=False, who="admin", vpce=None, vpc=None)) == DENY


def test_source_vpc_instead_of_source_vpce():
    # The endpoint id compared with aws:SourceVpc: never equal, so even the endpoint is refused.
    vpce_in_vpc_key = {**VPCE_DENY, "Condition": {"StringNotEquals": {"aws:SourceVpc": VPCE},
                                                  "ArnNotEquals": {"aws:PrincipalArn": ADMIN_ROLE}}}
    assert effect(doc(vpce_in_vpc_key), s3("s3:GetObject", who="app")) == DENY
    # The VPC id: the whole VPC gets in, through any endpoint of it.
    by_vpc = {**VPCE_DENY, "Condition": {"StringNotEquals": {"aws:SourceVpc": VPC},
                                         "ArnNotEquals": {"aws:PrincipalArn": ADMIN_ROLE}}}
    assert effect(doc(by_vpc), s3("s3:GetObject", who="app", vpce="vpce-0other")) == IMPLICIT_DENY
    assert effect(doc(VPCE_DENY), s3("s3:GetObject", who="app", vpce="vpce-0other")) == DENY


@pytest.mark.parametrize("condition", [
    {"StringNotEquals": {"aws:SourceVpce": VPCE}, "ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/lab-*"}},
    {"StringNotEquals": {"aws:SourceVpce": VPCE, "aws:PrincipalArn": ADMIN_ROLE}},  # two keys, one operator: AND
])
def test_admin_exception_written_other_ways(condition):
    statement = {**VPCE_DENY, "Condition": condition}
    assert effect(doc(statement), s3("s3:GetObject", who="admin", vpce=None, vpc=None)) == IMPLICIT_DENY
    assert effect(doc(statement), s3("s3:GetObject", who="app", vpce=None, vpc=None)) == DENY


def test_two_values_under_one_key_are_alternatives():
    statement = {**VPCE_DENY, "Condition": {"StringNotEquals": {"aws:SourceVpce": [VPCE, "vpce-0second"]},
                                            "ArnNotEquals": {"aws:PrincipalArn": ADMIN_ROLE}}}
    assert effect(doc(statement), s3("s3:GetObject", vpce="vpce-0second")) == IMPLICIT_DENY
    assert effect(doc(statement), s3("s3:GetObject", vpce="vpce-0third")) == DENY


# -- principals ----------------------------------------------------------------------------
def test_role_arn_in_principal_matches_its_sessions():
    allow = {"Effect": "Allow", "Principal": {"AWS": APP_ROLE}, "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/*"}
    assert effect(doc(allow), s3("s3:GetObject", who="app")) == ALLOW
    assert effect(doc(allow), s3("s3:GetObject", who="admin")) == IMPLICIT_DENY
    other_account = Request("s3:GetObject", OBJECT_ARN, {"AWS": "arn:aws:sts::999999999999:assumed-role/rides-app/x"})
    assert effect(doc(allow), other_account) == IMPLICIT_DENY


def test_role_with_a_path_matches_its_sessions():
    allow = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/apps/rides-app"},
             "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/*"}
    assert effect(doc(allow), s3("s3:GetObject", who="app")) == ALLOW


def test_account_principal_matches_every_identity_of_the_account():
    for element in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", [f"arn:aws:iam::{ACCOUNT}:root", "444455556666"]):
        allow = {"Effect": "Allow", "Principal": {"AWS": element}, "Action": "s3:*", "Resource": f"{BUCKET_ARN}/*"}
        assert effect(doc(allow), s3("s3:GetObject", who="admin")) == ALLOW
        assert effect(doc(allow), s3("s3:GetObject", who="anonymous")) == IMPLICIT_DENY


def test_anonymous_callers_match_only_wildcards():
    for element in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
        allow = {"Effect": "Allow", "Principal": element, "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/*"}
        assert effect(doc(allow), s3("s3:GetObject", who="anonymous", vpce=None, vpc=None)) == ALLOW


def test_not_principal_with_the_role_arn_alone_does_not_spare_its_sessions():
    # AWS: with NotPrincipal in a Deny, list the assumed-role session ARN and the account.
    role_only = {**VPCE_DENY, "NotPrincipal": {"AWS": ADMIN_ROLE},
                 "Condition": {"StringNotEquals": {"aws:SourceVpce": VPCE}}}
    del role_only["Principal"]
    assert effect(doc(role_only), s3("s3:GetObject", who="admin", vpce=None, vpc=None)) == DENY
    spared = {**role_only, "NotPrincipal": {"AWS": [ADMIN_SESSION, f"arn:aws:iam::{ACCOUNT}:root"]}}
    assert effect(doc(spared), s3("s3:GetObject", who="admin", vpce=None, vpc=None)) == IMPLICIT_DENY
    assert effect(doc(spared), s3("s3:GetObject", who="app", vpce=None, vpc=None)) == DENY
    session_without_account = {**role_only, "NotPrincipal": {"AWS": [ADMIN_SESSION]}}
    assert effect(doc(session_without_account), s3("s3:GetObject", who="admin", vpce=None, vpc=None)) == DENY


# -- the whole reference policy, as one matrix -----------------------------------------------
REFERENCE = doc(TLS_DENY, WRONG_HEADER, NO_HEADER, VPCE_DENY)
MATRIX = [
    # (request, explicitly denied?)
    (s3("s3:GetObject", https=False), True),
    (s3("s3:GetObject", https=False, who="admin", vpce=None, vpc=None), True),
    (s3("s3:ListBucket", obj=False, https=False), True),
    (s3("s3:PutObject", sse=None), True),
    (s3("s3:PutObject", sse="aws:kms"), True),
    (s3("s3:PutObject", sse="AES256"), False),
    (s3("s3:PutObject", sse="AES256", https=False), True),
    (s3("s3:GetObject"), False),
    (s3("s3:GetObject", vpce=None, vpc=None), True),
    (s3("s3:GetObject", vpce="vpce-0other"), True),
    (s3("s3:GetObject", who="admin", vpce=None, vpc=None), False),
    (s3("s3:PutObject", who="admin", sse="AES256", vpce=None, vpc=None), False),
    (s3("s3:PutObject", who="admin", sse=None, vpce=None, vpc=None), True),
    (s3("s3:PutBucketPolicy", obj=False, who="admin", vpce=None, vpc=None), False),
    (s3("s3:GetObject", who="anonymous", vpce=None, vpc=None), True),
]


@pytest.mark.parametrize("request_,denied", MATRIX)
def test_reference_policy_matrix(request_, denied):
    assert (effect(REFERENCE, request_) == DENY) is denied


def test_applicable_statements_lists_every_match_in_order():
    names = [name for name, _ in policy.applicable_statements(REFERENCE, s3("s3:PutObject", https=False, vpce=None, vpc=None))]
    assert names == ["DenyInsecureTransport", "DenyIncorrectEncryptionHeader", "DenyUnencryptedObjectUploads",
                     "DenyOutsideVpcEndpoint"]
    decision = policy.evaluate(REFERENCE, s3("s3:PutObject", https=False))
    assert decision.statement == "DenyInsecureTransport"


def test_explanation_helpers():
    assert policy.resource_covers(TLS_DENY, OBJECT_ARN) and policy.resource_covers(TLS_DENY, BUCKET_ARN)
    assert not policy.resource_covers({**TLS_DENY, "Resource": BUCKET_ARN}, OBJECT_ARN)
    assert policy.resource_covers({"NotResource": BUCKET_ARN}, OBJECT_ARN)
    assert policy.action_covers(TLS_DENY, "s3:GetObject") and not policy.action_covers(NO_HEADER, "s3:GetObject")
    assert policy.action_covers({"NotAction": "s3:Delete*"}, "s3:GetObject")
    assert policy.describe_conditions(VPCE_DENY) == (
        f"StringNotEquals aws:SourceVpce = {VPCE} and ArnNotEquals aws:PrincipalArn = {ADMIN_ROLE}")
    assert policy.describe_conditions({"Condition": {"Bool": {"aws:SecureTransport": False}}}) == \
        "Bool aws:SecureTransport = false"
    assert policy.describe_conditions({}) == "no condition"
    assert [n for n, _ in policy.statement_names(doc({**TLS_DENY, "Sid": ""}, NO_HEADER))] == [
        "statement 1", "DenyUnencryptedObjectUploads"]


@pytest.mark.parametrize("document,problem", [
    ("{not json", "is not valid JSON"),
    (json.dumps({"Statement": []}), "has no Statement list"),
    (json.dumps({"Statement": [{"Effect": "Deny!", "Action": "s3:*"}]}), "Effect 'Deny!'"),
    (json.dumps({"Statement": [{"Effect": "Deny", "Resource": "*"}]}), "has no Action"),
    (doc({**TLS_DENY, "Condition": {"BoolEquals": {"aws:SecureTransport": "false"}}}), "unknown condition operator"),
])
def test_malformed_policies_raise_policy_error(document, problem):
    with pytest.raises(policy.PolicyError, match=problem):
        policy.evaluate(document, s3("s3:GetObject", https=False))


# -- what sns-fanout relies on (unchanged) ------------------------------------------------------
def test_queue_policy_for_an_sns_topic_still_works():
    topic = "arn:aws:sns:us-east-1:111122223333:RideCompleted"
    queue_policy = doc({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                        "Resource": "arn:aws:sqs:us-east-1:111122223333:q",
                        "Condition": {"ArnEquals": {"aws:SourceArn": topic}}})

    def send(source):
        return Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q", {"Service": "sns.amazonaws.com"},
                       {"aws:SourceArn": source})

    assert policy.evaluate(queue_policy, send(topic)).allowed
    assert not policy.evaluate(queue_policy, send("arn:aws:sns:us-east-1:999999999999:RideCompleted")).allowed
    assert not policy.evaluate(queue_policy, Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q")).allowed
