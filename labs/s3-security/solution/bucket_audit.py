"""Find the public buckets in this account, as the AWS Config rule
s3-bucket-public-read-prohibited would (the emulator has no Config rules).

Run it against the emulator after `eval "$(lab env)"`:

    python bucket_audit.py
"""

import ipaddress
import json

import boto3
from botocore.exceptions import ClientError

# The AWS-managed groups an ACL grant can name: everyone, and every AWS account.
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}
# Condition keys that can pin a "*" principal to known callers, when compared
# with fixed values (AWS: "The meaning of public" for S3 Block Public Access).
RESTRICTING_KEYS = {
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
    "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths", "aws:principalorgid",
    "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn", "aws:userid",
    "s3:dataaccesspointarn", "s3:dataaccesspointaccount",
}
POSITIVE_OPERATORS = {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"}


def find_public_buckets(s3=None) -> list[str]:
    """Return the names of the buckets that are public, in any order."""
    s3 = s3 or boto3.client("s3")
    public = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        block = public_access_block(s3, name)
        by_policy = policy_is_public(s3, name) and not block.get("RestrictPublicBuckets")
        by_acl = acl_is_public(s3, name) and not block.get("IgnorePublicAcls")
        if by_policy or by_acl:
            public.append(name)
    return public


def public_access_block(s3, name: str) -> dict:
    try:
        return s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration":
            return {}
        raise


def policy_is_public(s3, name: str) -> bool:
    try:
        document = s3.get_bucket_policy(Bucket=name)["Policy"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchBucketPolicy":
            return False
        raise
    try:  # AWS (and moto) answer this themselves; ministack returns an empty PolicyStatus
        status = s3.get_bucket_policy_status(Bucket=name).get("PolicyStatus", {})
        if "IsPublic" in status:
            return bool(status["IsPublic"])
    except ClientError:
        pass
    statements = json.loads(document).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return any(statement_is_public(statement) for statement in statements)


def statement_is_public(statement: dict) -> bool:
    if statement.get("Effect") != "Allow":
        return False  # a Deny for "*" is a guardrail, not an opening
    if "NotPrincipal" not in statement and not wildcard(statement.get("Principal")):
        return False
    return not any(restricts(operator, key, values)
                   for operator, pairs in (statement.get("Condition") or {}).items()
                   for key, values in pairs.items())


def wildcard(principal) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS", [])
        return "*" in (aws if isinstance(aws, list) else [aws])
    return False


def restricts(operator: str, key: str, values) -> bool:
    """True when the condition pins callers to fixed values of a restricting key."""
    operator = operator.lower()
    if operator.startswith("forallvalues:") or operator.endswith("ifexists"):
        return False  # true when the key is absent, so it restricts nobody
    if operator.split(":")[-1] not in POSITIVE_OPERATORS or key.lower() not in RESTRICTING_KEYS:
        return False
    values = values if isinstance(values, list) else [values]
    return bool(values) and all(fixed(key.lower(), str(value)) for value in values)


def fixed(key: str, value: str) -> bool:
    if key == "aws:sourceip":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return network.prefixlen >= (8 if network.version == 4 else 32)
    if key == "aws:userid" and value.endswith(":*"):
        value = value[:-2]
    return "*" not in value and "?" not in value


def acl_is_public(s3, name: str) -> bool:
    grants = s3.get_bucket_acl(Bucket=name).get("Grants", [])
    return any(grant.get("Grantee", {}).get("URI") in PUBLIC_GROUPS for grant in grants)


if __name__ == "__main__":
    print(json.dumps(find_public_buckets(), indent=2))
