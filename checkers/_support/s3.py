"""S3 helpers for checkers: bucket reads, encryption probes and bucket-policy analysis.

- `read_bucket` gathers what a bucket's security settings are, turning the
  "not configured" errors (NoSuchBucketPolicy, ...) into None;
- `probe_default_encryption` uploads one object *without* encryption headers,
  reads back what the bucket applied, and deletes it again;
- `s3_request` builds the requests of a policy matrix for
  `checkers._support.policy` (bucket ARN vs bucket/* resources, HTTPS, the SSE
  header, VPC endpoint, caller), and `check_matrix` runs it;
- `public_statements` says which statements make a bucket public in the sense
  AWS uses for Block Public Access and GetBucketPolicyStatus: an Allow to a
  wildcard principal that no condition pins to fixed values of a restricting
  key (source IP range, VPC, VPC endpoint, account, ARN, organisation, ...).
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import policy

PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
SSE_HEADER = "s3:x-amz-server-side-encryption"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_NOT_CONFIGURED = {
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "OwnershipControlsNotFoundError",
}


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def error_code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


# -- reading a bucket -------------------------------------------------------------------
@dataclass
class BucketState:
    name: str
    exists: bool = True
    policy: str | None = None  # the document text, as stored
    encryption: dict | None = None  # the first rule of the default encryption configuration
    public_access_block: dict | None = None  # the four flags, as stored (missing ones are absent)
    ownership: str | None = None  # BucketOwnerEnforced / BucketOwnerPreferred / ObjectWriter
    acl_grants: list[dict] = field(default_factory=list)

    def flag(self, name: str) -> bool:
        return bool((self.public_access_block or {}).get(name))

    @property
    def public_acl_grants(self) -> list[dict]:
        return public_acl_grants(self.acl_grants)


def _optional(call, **kwargs):
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) in _NOT_CONFIGURED:
            return None
        raise


def bucket_exists(s3, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
        return True
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def read_bucket(s3, name: str, acl: bool = False) -> BucketState:
    """The bucket's security settings; `exists=False` when there is no such bucket."""
    try:
        policy_response = _optional(s3.get_bucket_policy, Bucket=name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            return BucketState(name, exists=False)
        raise
    state = BucketState(name, policy=(policy_response or {}).get("Policy") or None)
    encryption = _optional(s3.get_bucket_encryption, Bucket=name)
    rules = ((encryption or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    state.encryption = rules[0] if rules else None
    block = _optional(s3.get_public_access_block, Bucket=name)
    state.public_access_block = (block or {}).get("PublicAccessBlockConfiguration")
    ownership = _optional(s3.get_bucket_ownership_controls, Bucket=name)
    ownership_rules = ((ownership or {}).get("OwnershipControls") or {}).get("Rules") or []
    state.ownership = ownership_rules[0].get("ObjectOwnership") if ownership_rules else None
    if acl:
        state.acl_grants = s3.get_bucket_acl(Bucket=name).get("Grants", [])
    return state


def public_acl_grants(grants: list[dict]) -> list[dict]:
    return [g for g in grants if (g.get("Grantee") or {}).get("URI") in (ALL_USERS, AUTHENTICATED_USERS)]


def describe_grant(grant: dict) -> str:
    who = "everyone (AllUsers)" if grant["Grantee"].get("URI") == ALL_USERS else "any AWS account (AuthenticatedUsers)"
    return f"{grant.get('Permission')} to {who}"


# -- behaviour: what the bucket does to an upload without encryption headers -----------
@dataclass
class EncryptionProbe:
    bucket: str
    key: str
    algorithm: str | None = None  # head_object().ServerSideEncryption
    kms_key: str | None = None  # head_object().SSEKMSKeyId
    bucket_key: bool | None = None  # head_object().BucketKeyEnabled, when reported
    refused: str | None = None  # why the upload was refused (AccessDenied under a bucket policy)
    leftover: bool = False  # the probe object could not be deleted again

    @property
    def stored(self) -> bool:
        return self.refused is None


def probe_default_encryption(s3, bucket: str, key: str) -> EncryptionProbe:
    """Upload `key` with no SSE headers, read back the encryption applied, delete it."""
    probe = EncryptionProbe(bucket, key)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"lab check probe: default encryption\n")
    except ClientError as exc:
        code, message = error_code(exc), exc.response.get("Error", {}).get("Message", "")
        probe.refused = f"HTTP {code} {message}".strip() if code.isdigit() else f"{code or 'an error'}: {message}".strip(": ")
        return probe
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        probe.algorithm = head.get("ServerSideEncryption")
        probe.kms_key = head.get("SSEKMSKeyId")
        probe.bucket_key = head.get("BucketKeyEnabled")
    finally:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except ClientError:
            probe.leftover = True
    return probe


# -- requests for the policy evaluator --------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """Who sends a request: a role session, or an anonymous internet user."""

    label: str  # "the rides-app role"
    principal: Any  # {"AWS": session ARN} or "*"
    context: dict = field(default_factory=dict)


def role_caller(label: str, role_arn: str, role_id: str | None = None, session: str = "lab-check") -> Caller:
    account = role_arn.split(":")[4]
    name = role_arn.rsplit("/", 1)[-1]
    context = {
        "aws:PrincipalArn": role_arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "AssumedRole",
    }
    if role_id:
        context["aws:userid"] = f"{role_id}:{session}"
    return Caller(label, {"AWS": f"arn:aws:sts::{account}:assumed-role/{name}/{session}"}, context)


ANONYMOUS = Caller("an anonymous internet user", "*", {"aws:PrincipalType": "Anonymous"})


@dataclass(frozen=True)
class Network:
    label: str  # "through the lab VPC endpoint vpce-..."
    context: dict = field(default_factory=dict)


INTERNET = Network("from the internet", {"aws:SourceIp": "203.0.113.10"})


def via_endpoint(vpce_id: str, vpc_id: str, label: str | None = None) -> Network:
    return Network(
        label or f"through the VPC endpoint {vpce_id}",
        {"aws:SourceVpce": vpce_id, "aws:SourceVpc": vpc_id, "aws:VpcSourceIp": "10.20.1.15"},
    )


def s3_request(action: str, bucket: str, key: str | None = None, *, caller: Caller, network: Network,
               secure: bool = True, sse: str | None = None) -> policy.Request:
    """One S3 request: object actions carry bucket/key as resource, bucket actions the bucket ARN."""
    context = {"aws:SecureTransport": "true" if secure else "false", **caller.context, **network.context}
    if sse is not None:
        context[SSE_HEADER] = sse
    resource = object_arn(bucket, key) if key is not None else bucket_arn(bucket)
    return policy.Request(action=action, resource=resource, principal=caller.principal, context=context)


@dataclass(frozen=True)
class Row:
    """A request and what the policy must do with it."""

    label: str  # "a plain-HTTP GetObject by the rides-app role through the endpoint"
    request: policy.Request
    expect: str  # "deny" (explicitly), "not-deny", "allow", "not-allow"


@dataclass
class Miss:
    row: Row
    decision: policy.Decision


def row_holds(expect: str, decision: policy.Decision) -> bool:
    return {
        "deny": decision.effect == policy.DENY,
        "not-deny": decision.effect != policy.DENY,
        "allow": decision.effect == policy.ALLOW,
        "not-allow": decision.effect != policy.ALLOW,
    }[expect]


def check_matrix(document: str | dict, rows: list[Row]) -> list[Miss]:
    """The rows whose expectation the policy does not meet (PolicyError if it cannot be read)."""
    misses = []
    for row in rows:
        decision = policy.evaluate(document, row.request)
        if not row_holds(row.expect, decision):
            misses.append(Miss(row, decision))
    return misses


# -- reading policies for people --------------------------------------------------------
def lint_bucket_policy(document: str | dict, bucket: str) -> list[str]:
    """What S3 itself would reject in this bucket policy (the emulators accept it all)."""
    problems = []
    for name, statement in policy.statement_names(document):
        if "Principal" not in statement and "NotPrincipal" not in statement:
            problems.append(f"statement '{name}' has no Principal (S3 rejects a bucket policy statement without one)")
        if "Resource" not in statement and "NotResource" not in statement:
            problems.append(f"statement '{name}' has no Resource")
        for resource in map(str, _as_list(statement.get("Resource"))):
            if resource != "*" and not (resource == bucket_arn(bucket) or resource.startswith(bucket_arn(bucket) + "/")
                                        or (resource.startswith(bucket_arn(bucket)) and "*" in resource)):
                problems.append(f"statement '{name}' names {resource}, which is not this bucket "
                                f"({bucket_arn(bucket)} or {bucket_arn(bucket)}/*)")
    return problems


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def describe_principal(statement: dict) -> str:
    if "NotPrincipal" in statement:
        return "everyone except " + _principal_text(statement["NotPrincipal"])
    return _principal_text(statement.get("Principal"))


def _principal_text(element) -> str:
    if element is None:
        return "(none)"
    if element == "*":
        return "*"
    if isinstance(element, dict):
        parts = []
        for kind, values in element.items():
            for value in _as_list(values):
                parts.append(str(value) if kind == "AWS" else f"{kind}:{value}")
        return ", ".join(parts)
    return str(element)


def describe_list(statement: dict, element: str) -> str:
    if element in statement:
        return ", ".join(map(str, _as_list(statement[element])))
    negated = "Not" + element
    if negated in statement:
        return "everything except " + ", ".join(map(str, _as_list(statement[negated])))
    return "(none)"


def has_wildcard_principal(statement: dict) -> bool:
    if "NotPrincipal" in statement:
        return True  # "everyone except ..." reaches the whole internet
    element = statement.get("Principal")
    if element == "*":
        return True
    if isinstance(element, dict):
        return any(str(value) == "*" for value in _as_list(element.get("AWS")))
    return False


# Condition keys that can pin a wildcard principal down to known callers (AWS's list for
# "the meaning of public", plus the principal keys Access Analyzer also honours).
RESTRICTING_KEYS = {
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
    "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths", "aws:principalorgid",
    "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn", "aws:userid",
    "s3:dataaccesspointarn", "s3:dataaccesspointaccount",
}
_POSITIVE_OPERATORS = {
    "stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress",
}


def restricting_conditions(statement: dict) -> list[str]:
    """The conditions that pin callers to fixed values ("aws:SourceVpce = vpce-1")."""
    found = []
    for operator, key, values in policy.condition_entries(statement):
        base = operator.split(":", 1)[-1].lower()
        if operator.lower().startswith("forallvalues:") or base.endswith("ifexists"):
            continue  # true when the key is absent: restricts nobody
        if base not in _POSITIVE_OPERATORS or key.lower() not in RESTRICTING_KEYS or not values:
            continue
        if all(_fixed_value(key.lower(), str(value)) for value in values):
            found.append(f"{key} = {', '.join(map(str, values))}")
    return found


def _fixed_value(key: str, value: str) -> bool:
    if key == "aws:sourceip":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return network.prefixlen >= (8 if network.version == 4 else 32)
    if key == "aws:userid" and value.endswith(":*"):
        value = value[:-2]  # "AROAROLEID:*" names one role's sessions
    return "*" not in value and "?" not in value


def public_statements(document: str | dict) -> list[tuple[str, dict, str]]:
    """(name, statement, why) for each statement that makes the bucket public."""
    found = []
    for name, statement in policy.statement_names(document):
        if statement.get("Effect") != "Allow" or not has_wildcard_principal(statement):
            continue
        if restricting_conditions(statement):
            continue
        conditions = policy.describe_conditions(statement)
        why = (f"Allows {describe_principal(statement)} to {describe_list(statement, 'Action')} "
               f"on {describe_list(statement, 'Resource')}")
        why += " with no condition" if conditions == "no condition" else f" under conditions anyone can meet ({conditions})"
        found.append((name, statement, why))
    return found


@dataclass
class StatementFinding:
    name: str
    effect: str
    principal: str
    actions: str
    resources: str
    conditions: str
    finding: str  # "public", "wildcard-restricted", "wildcard-deny", "unconditioned-allow", "cross-account", "ok"
    note: str


def review_policy(document: str | dict, owner_account: str | None = None) -> list[StatementFinding]:
    """One finding per statement, for the access review."""
    public = {name for name, _, _ in public_statements(document)}
    findings = []
    for name, statement in policy.statement_names(document):
        effect = statement.get("Effect")
        conditions = policy.describe_conditions(statement)
        wildcard = has_wildcard_principal(statement)
        accounts = {a for a in (policy.account_of(v) for v in _principal_values(statement)) if a}
        if name in public:
            finding, note = "public", "anyone on the internet gets this access: remove it or pin it to a VPC endpoint, account or IP range"
        elif wildcard and effect == "Allow":
            finding, note = "wildcard-restricted", "restricted by " + "; ".join(restricting_conditions(statement))
        elif wildcard:
            finding, note = "wildcard-deny", "a guardrail that applies to everyone (fine)"
        elif effect == "Allow" and owner_account and accounts - {owner_account}:
            finding, note = "cross-account", "grants access to another account: " + ", ".join(sorted(accounts - {owner_account}))
        elif effect == "Allow" and conditions == "no condition":
            finding, note = "unconditioned-allow", "check that this principal needs all of it"
        else:
            finding, note = "ok", ""
        findings.append(StatementFinding(name, effect, describe_principal(statement), describe_list(statement, "Action"),
                                         describe_list(statement, "Resource"), conditions, finding, note))
    return findings


def _principal_values(statement: dict) -> list[str]:
    element = statement.get("Principal")
    if isinstance(element, dict):
        return [str(v) for v in _as_list(element.get("AWS"))]
    return []


def policy_text(document: str | dict) -> str:
    return document if isinstance(document, str) else json.dumps(document)
