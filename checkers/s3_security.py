"""s3-security: lock down two buckets of ride data the way AWS recommends.

How it is graded (neither embedded engine enforces bucket-policy conditions:
moto refuses every object request under any conditional statement, ministack
stores policies without evaluating them; see emulators.md):
- behaviour where the emulator behaves: the checker uploads a probe object
  without encryption headers and reads back the encryption the bucket applied
  (both engines apply default encryption), then deletes it; it seeds two probe
  buckets (one public, one private) and runs the learner's find_public_buckets();
- configuration reads: default encryption, Block Public Access, Object Ownership;
- our own evaluator (checkers/_support/policy.py) for the bucket policy, over a
  request matrix: HTTP vs HTTPS, SSE header absent / AES256 / aws:kms, through the
  lab's VPC endpoint / another endpoint / the internet, rides-app vs lab-admin.
If a bucket policy refuses the encryption probe (moto does under any conditional
Deny; AWS does under a correct "deny unencrypted uploads" statement), default
encryption is graded on its configuration alone, and the message says so.
Probe objects and buckets carry this run's id and are deleted again.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from checkers._support import policy
from checkers._support import s3 as s3s
from checkers._support import sqs as sqs_support
from checkers._support.s3 import Row
from labkit.checks import Checker, CheckContext, Fail, expect

checker = Checker("s3-security")

STACK = "s3-security-base"
RIDES, RECEIPTS = "sensitive-rides", "sensitive-receipts"
LAB_BUCKETS = (RIDES, RECEIPTS)
SENSITIVE_PREFIX = "sensitive-"
KEY_ALIAS = "alias/receipts-key"
ADMIN_ROLE, APP_ROLE = "lab-admin", "rides-app"
AUDIT_FILE, AUDIT_FUNCTION = "bucket_audit.py", "find_public_buckets"
PROBE_BUCKET_PREFIX = "lab-probe-"
RIDE_OBJECT = "rides/2025/11/03/ride-0001.json"
RECEIPT_OBJECT = "receipts/2025/11/03/ride-0001.txt"
OTHER_ENDPOINT = "vpce-0a1b2c3d4e5f60718"  # another S3 endpoint in the same VPC (e.g. an interface endpoint)
LEGACY_RECEIPTS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "PublicReceiptLinks",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{RECEIPTS}/receipts/*",
    }],
}
BOTH_ARNS = f"{s3s.bucket_arn(RIDES)} and {s3s.bucket_arn(RIDES)}/*"
WANT_TLS = f"a Deny on s3:* for {BOTH_ARNS} when aws:SecureTransport is false"
WANT_SSE = (f"two Denies on s3:PutObject for {s3s.bucket_arn(RIDES)}/*: one when the header is missing "
            "(Null s3:x-amz-server-side-encryption = true), one when it is not AES256 "
            "(StringNotEquals s3:x-amz-server-side-encryption = AES256)")


# -- what the emulator holds -----------------------------------------------------------
@dataclass
class LabState:
    account: str
    vpc_id: str
    vpce_id: str
    admin_arn: str
    app_arn: str
    admin: s3s.Caller
    app: s3s.Caller
    key_arn: str | None

    @property
    def endpoint(self) -> s3s.Network:
        return s3s.via_endpoint(self.vpce_id, self.vpc_id, f"through the lab endpoint {self.vpce_id}")

    @property
    def other_endpoint(self) -> s3s.Network:
        return s3s.via_endpoint(OTHER_ENDPOINT, self.vpc_id,
                                f"through another S3 endpoint ({OTHER_ENDPOINT}) in the same VPC {self.vpc_id}")

    @property
    def want_vpce(self) -> str:
        return (f"a Deny on s3:GetObject and s3:PutObject (or s3:*) for {BOTH_ARNS} when aws:SourceVpce is not "
                f"{self.vpce_id}, with an exception for {self.admin_arn} in the same statement "
                "(ArnNotEquals aws:PrincipalArn)")


def stack_outputs(ctx: CheckContext) -> tuple[str | None, dict]:
    cloudformation = ctx.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    except ClientError:
        return None, {}
    return stack["StackStatus"], {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _role(iam, name: str) -> dict | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except ClientError:
        return None


def lab_key(kms) -> dict | None:
    try:
        return kms.describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]
    except ClientError:
        return None


def read_lab(ctx: CheckContext) -> LabState:
    status, outputs = stack_outputs(ctx)
    if status is None:
        raise Fail(f"The stack {STACK} is missing; run `lab start s3-security` to deploy it again.")
    missing = [key for key in ("VpcId", "VpcEndpointId") if key not in outputs]
    expect(not missing, f"Stack {STACK} is {status} without the output(s) {', '.join(missing)}; "
                        "run `lab reset s3-security` and `lab start s3-security`.")
    iam = ctx.client("iam")
    admin, app = _role(iam, ADMIN_ROLE), _role(iam, APP_ROLE)
    expect(admin and app, f"The role {ADMIN_ROLE if not admin else APP_ROLE} is gone; run `lab start s3-security`.")
    key = lab_key(ctx.client("kms"))
    return LabState(
        account=admin["Arn"].split(":")[4],
        vpc_id=outputs["VpcId"],
        vpce_id=outputs["VpcEndpointId"],
        admin_arn=admin["Arn"],
        app_arn=app["Arn"],
        admin=s3s.role_caller(f"the {ADMIN_ROLE} role", admin["Arn"], admin.get("RoleId"), "admin"),
        app=s3s.role_caller(f"the {APP_ROLE} role", app["Arn"], app.get("RoleId"), "i-0rides"),
        key_arn=key["Arn"] if key else None,
    )


def read_buckets(ctx: CheckContext) -> dict[str, s3s.BucketState]:
    s3 = ctx.client("s3")
    return {name: s3s.read_bucket(s3, name, acl=True) for name in LAB_BUCKETS}


def bucket(ctx: CheckContext, name: str) -> s3s.BucketState:
    state = ctx.fixture(read_buckets)[name]
    expect(state.exists, f"The bucket {name} is gone; run `lab start s3-security` to create it again.")
    return state


def _stale(when: datetime) -> bool:
    return (datetime.now(timezone.utc) - when).total_seconds() > sqs_support.STALE_PROBE_SECONDS


def sweep_stale_probes(ctx: CheckContext) -> None:
    """Remove what a check killed or timed out mid-probe left (another run's, over a minute old):
    probe objects in the lab buckets and probe buckets, one of them public (a fixture: once per check)."""
    s3 = ctx.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if name.startswith(f"{PROBE_BUCKET_PREFIX}chk-") and ctx.run_id not in name and _stale(bucket["CreationDate"]):
            _delete_bucket(s3, name)
    for name in LAB_BUCKETS:
        try:
            leftovers = s3.list_objects_v2(Bucket=name, Prefix="lab-probe/chk-").get("Contents", [])
        except ClientError:
            continue  # no such bucket: the checks say so
        for item in leftovers:
            if ctx.run_id not in item["Key"] and _stale(item["LastModified"]):
                s3.delete_object(Bucket=name, Key=item["Key"])


def encryption_probes(ctx: CheckContext) -> dict[str, s3s.EncryptionProbe]:
    ctx.fixture(sweep_stale_probes)
    s3 = ctx.client("s3")
    return {
        name: s3s.probe_default_encryption(s3, name, f"lab-probe/{ctx.run_id}.txt")
        for name in LAB_BUCKETS
        if ctx.fixture(read_buckets)[name].exists
    }


def _refused_by_s3(problem: str) -> Fail:
    return Fail(f"The bucket policy on {RIDES} {problem}. S3 would refuse it (MalformedPolicy), "
                "although the emulator stored it.")


def rides_policy(ctx: CheckContext, wanted: str) -> str:
    """sensitive-rides' policy text, or Fail saying why there is none S3 would accept."""
    state = bucket(ctx, RIDES)
    expect(state.policy, f"{RIDES} has no bucket policy yet; expected {wanted}.")
    try:
        problems = s3s.lint_bucket_policy(state.policy, RIDES)
    except policy.PolicyError as problem:
        raise _refused_by_s3(str(problem)) from None
    if problems:
        raise _refused_by_s3("has problems: " + "; ".join(problems))
    return state.policy


def evaluate_rows(document: str, rows: list[Row]) -> list[s3s.Miss]:
    try:
        return s3s.check_matrix(document, rows)
    except policy.PolicyError as problem:
        raise _refused_by_s3(str(problem)) from None


def _short(action: str) -> str:
    return action.split(":", 1)[1]


def _condition_values(statement: dict, key: str) -> set[str]:
    return {str(v).lower() for _, k, values in policy.condition_entries(statement) if k.lower() == key.lower()
            for v in values}


def _mentions(statement: dict, key: str) -> bool:
    return any(k.lower() == key.lower() for _, k, _ in policy.condition_entries(statement))


def _deniers(document: str, miss: s3s.Miss) -> list[tuple[str, dict]]:
    return [(n, s) for n, s in policy.applicable_statements(document, miss.row.request) if s.get("Effect") == "Deny"]


def _why_not_denied(miss: s3s.Miss) -> str:
    return miss.decision.reason if miss.decision.allowed else "no statement denies it"


def _blame(document: str, miss: s3s.Miss) -> str:
    deniers = _deniers(document, miss)
    if not deniers:
        return miss.decision.reason
    name, statement = deniers[0]
    return f"statement '{name}' denies it ({policy.describe_conditions(statement)})"


# -- the request matrices ----------------------------------------------------------------
def https_rows(lab: LabState) -> list[Row]:
    rows = []
    for caller in (lab.app, lab.admin):
        for action, key, sse in (("s3:GetObject", RIDE_OBJECT, None), ("s3:PutObject", RIDE_OBJECT, "AES256"),
                                 ("s3:ListBucket", None, None)):
            request = s3s.s3_request(action, RIDES, key, caller=caller, network=lab.endpoint, secure=False, sse=sse)
            rows.append(Row(f"a plain-HTTP {_short(action)} by {caller.label} {lab.endpoint.label}", request, "deny"))
    for action, key, sse in (("s3:GetObject", RIDE_OBJECT, None), ("s3:PutObject", RIDE_OBJECT, "AES256"),
                             ("s3:ListBucket", None, None)):
        request = s3s.s3_request(action, RIDES, key, caller=lab.app, network=lab.endpoint, secure=True, sse=sse)
        rows.append(Row(f"an HTTPS {_short(action)} by {lab.app.label} {lab.endpoint.label}", request, "not-deny"))
    return rows


def upload_rows(lab: LabState) -> list[Row]:
    def put(sse):
        return s3s.s3_request("s3:PutObject", RIDES, RIDE_OBJECT, caller=lab.app, network=lab.endpoint, sse=sse)

    return [
        Row("an HTTPS PutObject without the x-amz-server-side-encryption header", put(None), "deny"),
        Row("an HTTPS PutObject with x-amz-server-side-encryption: aws:kms", put("aws:kms"), "deny"),
        Row("an HTTPS PutObject with x-amz-server-side-encryption: AES256", put("AES256"), "not-deny"),
    ]


def vpce_rows(lab: LabState) -> list[Row]:
    def request(action, key, caller, network, sse=None):
        return s3s.s3_request(action, RIDES, key, caller=caller, network=network, sse=sse)

    rows = []
    for action, key, sse in (("s3:GetObject", RIDE_OBJECT, None), ("s3:PutObject", RIDE_OBJECT, "AES256")):
        rows.append(Row(f"an HTTPS {_short(action)} by {lab.app.label} {s3s.INTERNET.label}",
                        request(action, key, lab.app, s3s.INTERNET, sse), "deny"))
        rows.append(Row(f"an HTTPS {_short(action)} by {lab.app.label} {lab.endpoint.label}",
                        request(action, key, lab.app, lab.endpoint, sse), "not-deny"))
    rows.append(Row(f"an HTTPS GetObject by {lab.app.label} {lab.other_endpoint.label}",
                    request("s3:GetObject", RIDE_OBJECT, lab.app, lab.other_endpoint), "deny"))
    for action, key, sse in (("s3:GetObject", RIDE_OBJECT, None), ("s3:PutObject", RIDE_OBJECT, "AES256"),
                             ("s3:ListBucket", None, None), ("s3:GetBucketPolicy", None, None),
                             ("s3:PutBucketPolicy", None, None), ("s3:DeleteBucketPolicy", None, None)):
        rows.append(Row(f"an HTTPS {_short(action)} by {lab.admin.label} {s3s.INTERNET.label}",
                        request(action, key, lab.admin, s3s.INTERNET, sse), "not-deny"))
    return rows


# -- tasks -------------------------------------------------------------------------------
@checker.task("deploy-stack")
def deploy_stack(ctx: CheckContext) -> str:
    status, _ = stack_outputs(ctx)
    expect(status, f"Stack {STACK} is missing; run `lab start s3-security` to deploy it.")
    expect(status.endswith("COMPLETE") and "ROLLBACK" not in status and "DELETE" not in status,
           f"Stack {STACK} is {status}; expected CREATE_COMPLETE. Run `lab reset s3-security`, then `lab start s3-security`.")
    lab = ctx.fixture(read_lab)
    endpoints = ctx.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [lab.vpc_id]}]).get("VpcEndpoints", [])
    endpoint = next((e for e in endpoints if e["VpcEndpointId"] == lab.vpce_id), None)
    expect(endpoint and endpoint.get("State", "available").lower() == "available",
           f"The S3 gateway endpoint {lab.vpce_id} of {lab.vpc_id} is {endpoint.get('State') if endpoint else 'gone'}; "
           "run `lab reset s3-security` and `lab start s3-security`.")
    expect(endpoint.get("RouteTableIds"), f"The endpoint {lab.vpce_id} is attached to no route table; "
                                          "run `lab reset s3-security` and `lab start s3-security`.")
    expect(lab.key_arn, f"The KMS key {KEY_ALIAS} is missing; run `lab start s3-security` to create it again.")
    gone = [name for name in LAB_BUCKETS if not ctx.fixture(read_buckets)[name].exists]
    expect(not gone, f"The bucket(s) {', '.join(gone)} are gone; run `lab start s3-security` to create them again.")
    return (f"Stack {STACK} is {status}: VPC {lab.vpc_id} with the S3 gateway endpoint {lab.vpce_id}, "
            f"roles {ADMIN_ROLE} and {APP_ROLE}; the key {KEY_ALIAS} and the buckets {RIDES} and {RECEIPTS} exist.")


def _probe_note(probe: s3s.EncryptionProbe, ctx: CheckContext) -> str:
    why = ("moto refuses every object request under any conditional bucket-policy statement"
           if ctx.backend == "moto" else "your deny-unencrypted-uploads statement should do exactly that")
    return (f" Your bucket policy refused the checker's upload without encryption headers ({probe.refused}; {why}), "
            "so this was graded on the configuration alone.")


@checker.task("default-encryption")
def default_encryption(ctx: CheckContext) -> str:
    state = bucket(ctx, RIDES)
    rule = (state.encryption or {}).get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = rule.get("SSEAlgorithm")
    expect(algorithm, f"{RIDES} has no default encryption configured; expected SSE-S3 "
                      "(put-bucket-encryption with SSEAlgorithm AES256).")
    expect(algorithm == "AES256",
           f"{RIDES} encrypts by default with {algorithm}; expected SSE-S3 (AES256): its bucket policy will only "
           "accept uploads that ask for AES256, and SSE-KMS is the variant task for the receipts bucket.")
    probe = ctx.fixture(encryption_probes)[RIDES]
    if not probe.stored:
        return f"{RIDES} encrypts new objects with SSE-S3 (AES256) by default." + _probe_note(probe, ctx)
    expect(probe.algorithm == "AES256",
           f"Uploaded a probe object to {RIDES} without encryption headers: head-object shows "
           f"{'no ServerSideEncryption (stored unencrypted)' if not probe.algorithm else 'ServerSideEncryption ' + probe.algorithm}, "
           "although get-bucket-encryption reports AES256; expected AES256. Set the default explicitly with "
           "put-bucket-encryption (SSEAlgorithm AES256).")
    return f"{RIDES} encrypts new objects with SSE-S3: a probe uploaded without headers came back with ServerSideEncryption AES256."


def _resolve_key(ctx: CheckContext, key_id: str | None) -> str | None:
    if not key_id:
        return None
    try:
        return ctx.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    except ClientError:
        return None


@checker.task("kms-encryption")
def kms_encryption(ctx: CheckContext) -> str:
    lab = ctx.fixture(read_lab)
    expect(lab.key_arn, f"The lab key {KEY_ALIAS} is missing; run `lab start s3-security` to create it again.")
    state = bucket(ctx, RECEIPTS)
    default = (state.encryption or {}).get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm")
    wanted = f"SSE-KMS (aws:kms) with the lab key {KEY_ALIAS} ({lab.key_arn}) and BucketKeyEnabled true"
    expect(algorithm == "aws:kms",
           f"{RECEIPTS} {'encrypts by default with ' + algorithm if algorithm else 'has no default encryption'}; "
           f"expected {wanted}.")
    configured = default.get("KMSMasterKeyID")
    expect(configured, f"{RECEIPTS} uses SSE-KMS without naming a key, i.e. the AWS managed key aws/s3, whose key "
                       f"policy you cannot control; expected the lab key {KEY_ALIAS} as KMSMasterKeyID.")
    resolved = _resolve_key(ctx, configured)
    expect(resolved, f"{RECEIPTS} names the KMS key {configured}, which does not exist; expected {KEY_ALIAS}.")
    expect(resolved == lab.key_arn, f"{RECEIPTS} encrypts with the KMS key {configured} ({resolved}); "
                                    f"expected the lab key {KEY_ALIAS} ({lab.key_arn}).")
    expect(state.encryption.get("BucketKeyEnabled") is True,
           f"{RECEIPTS} uses {KEY_ALIAS} but without an S3 Bucket Key (BucketKeyEnabled is "
           f"{state.encryption.get('BucketKeyEnabled')}), so every object costs a KMS request; "
           "set BucketKeyEnabled true in the same rule.")
    probe = ctx.fixture(encryption_probes)[RECEIPTS]
    if not probe.stored:
        return f"{RECEIPTS} encrypts new objects with {KEY_ALIAS} and a Bucket Key." + _probe_note(probe, ctx)
    expect(probe.algorithm == "aws:kms",
           f"Uploaded a probe object to {RECEIPTS} without encryption headers: it came back with "
           f"ServerSideEncryption {probe.algorithm or 'none'}; expected aws:kms.")
    probe_key = _resolve_key(ctx, probe.kms_key)
    expect(probe_key == lab.key_arn, f"The probe object in {RECEIPTS} was encrypted under {probe.kms_key}; "
                                     f"expected the lab key {lab.key_arn}.")
    expect(probe.bucket_key is not False, f"The probe object in {RECEIPTS} reports BucketKeyEnabled false; "
                                          "expected the bucket's S3 Bucket Key to be used.")
    return (f"{RECEIPTS} encrypts new objects with SSE-KMS under {KEY_ALIAS} with an S3 Bucket Key: "
            "a probe uploaded without headers came back as aws:kms with that key.")


@checker.task("enforce-https")
def enforce_https(ctx: CheckContext) -> str:
    lab = ctx.fixture(read_lab)
    document = rides_policy(ctx, WANT_TLS)
    misses = evaluate_rows(document, https_rows(lab))
    http = [m for m in misses if m.row.expect == "deny"]
    if http:
        raise Fail(_explain_http(document, http))
    for miss in misses:  # HTTPS denied: only blame statements about transport (or with no condition at all)
        culprits = [(n, s) for n, s in _deniers(document, miss)
                    if _mentions(s, "aws:SecureTransport") or not s.get("Condition")]
        if culprits:
            name, statement = culprits[0]
            raise Fail(f"Your policy also denies {miss.row.label}: statement '{name}' "
                       f"({policy.describe_conditions(statement)}) applies to HTTPS requests too; "
                       "deny only when aws:SecureTransport is false.")
    names = [n for n, s in policy.statement_names(document)
             if s.get("Effect") == "Deny" and "false" in _condition_values(s, "aws:SecureTransport")]
    return (f"{RIDES} refuses plain HTTP for everyone on the bucket and its objects "
            f"(statement {', '.join(repr(n) for n in names) or 'in your policy'}), and lets HTTPS through.")


def _explain_http(document: str, misses: list[s3s.Miss]) -> str:
    first = misses[0]
    statements = policy.statement_names(document)
    tls_allows = [(n, s) for n, s in statements
                  if s.get("Effect") == "Allow" and "true" in _condition_values(s, "aws:SecureTransport")]
    tls_denies = [(n, s) for n, s in statements
                  if s.get("Effect") == "Deny" and "false" in _condition_values(s, "aws:SecureTransport")]
    if tls_allows and not tls_denies:
        name = tls_allows[0][0]
        return (f"Your policy allows {first.row.label}: statement '{name}' Allows when aws:SecureTransport is true "
                "but nothing Denies when it is false. An Allow only adds access: your account's users and roles "
                f"still reach the bucket over HTTP through their own IAM policies. Expected {WANT_TLS}.")
    if tls_denies:
        covered = [arn for arn in (s3s.bucket_arn(RIDES), s3s.object_arn(RIDES, RIDE_OBJECT))
                   if any(policy.resource_covers(s, arn) for _, s in tls_denies)]
        names = ", ".join(f"'{n}'" for n, _ in tls_denies)
        if s3s.object_arn(RIDES, RIDE_OBJECT) not in covered:
            return (f"Your policy does not deny {first.row.label}: statement {names} Denies plain HTTP on "
                    f"{s3s.bucket_arn(RIDES)} only, which covers bucket actions such as ListBucket; objects are "
                    f"{s3s.bucket_arn(RIDES)}/*, so a plain-HTTP GetObject goes through. Expected {WANT_TLS}.")
        if s3s.bucket_arn(RIDES) not in covered:
            return (f"Your policy does not deny {first.row.label}: statement {names} Denies plain HTTP on "
                    f"{s3s.bucket_arn(RIDES)}/* only, so bucket actions such as ListBucket still work over HTTP. "
                    f"Expected {WANT_TLS}.")
        uncovered = sorted({m.row.request.action for m in misses
                            if not any(policy.action_covers(s, m.row.request.action) for _, s in tls_denies)})
        if uncovered:
            return (f"Your policy does not deny {first.row.label}: statement {names} does not cover "
                    f"{', '.join(uncovered)}. Expected {WANT_TLS}.")
    return f"Your policy does not deny {first.row.label} ({_why_not_denied(first)}); expected {WANT_TLS}."


@checker.task("deny-unencrypted-uploads")
def deny_unencrypted_uploads(ctx: CheckContext) -> str:
    lab = ctx.fixture(read_lab)
    document = rides_policy(ctx, WANT_SSE)
    misses = {m.row.request.context.get(s3s.SSE_HEADER): m for m in evaluate_rows(document, upload_rows(lab))}
    header_statements = [(n, s) for n, s in policy.statement_names(document) if _mentions(s, s3s.SSE_HEADER)]
    denies = [(n, s) for n, s in header_statements if s.get("Effect") == "Deny"]
    if denies and not any(policy.resource_covers(s, s3s.object_arn(RIDES, RIDE_OBJECT)) for _, s in denies):
        named = sorted({r for _, s in denies for r in s3s.describe_list(s, "Resource").split(", ")})
        raise Fail(f"Statement {', '.join(repr(n) for n, _ in denies)} tests the encryption header but names only "
                   f"{', '.join(named)}; uploads are requests on {s3s.bucket_arn(RIDES)}/*, so none is denied. "
                   f"Expected {WANT_SSE}.")
    if "AES256" in misses:
        miss = misses["AES256"]
        culprits = [(n, s) for n, s in _deniers(document, miss) if _mentions(s, s3s.SSE_HEADER) or not s.get("Condition")]
        if culprits:
            name, statement = culprits[0]
            values = _condition_values(statement, s3s.SSE_HEADER) - {"true", "false"}
            wrong = f" compares the header with {', '.join(sorted(values))}, but" if values and "aes256" not in values else ""
            also = (" It also lets an upload with aws:kms through."
                    if "aws:kms" in misses else "")
            raise Fail(f"Your policy denies {miss.row.label}: statement '{name}' "
                       f"({policy.describe_conditions(statement)}){wrong} {RIDES} uses SSE-S3, whose header value "
                       f"is AES256.{also} Expected {WANT_SSE}.")
    if None in misses:
        raise Fail(f"Your policy does not deny {misses[None].row.label} ({_why_not_denied(misses[None])}); "
                   f"expected {WANT_SSE}.")
    if "aws:kms" in misses:
        raise Fail(f"Your policy does not deny {misses['aws:kms'].row.label} ({_why_not_denied(misses['aws:kms'])}): "
                   "it only checks that the header is present. Expected "
                   "a Deny when the header is not AES256 (StringNotEquals s3:x-amz-server-side-encryption = AES256).")
    return (f"{RIDES} refuses uploads without the encryption header or with another algorithm, "
            "and accepts x-amz-server-side-encryption: AES256.")


@checker.task("block-public-access")
def block_public_access(ctx: CheckContext) -> str:
    for name in LAB_BUCKETS:
        state = bucket(ctx, name)
        if state.public_access_block is None:
            raise Fail(f"{name} has no Block Public Access configuration; expected all four flags true: "
                       f"{', '.join(s3s.PUBLIC_ACCESS_FLAGS)}.")
        off = [flag for flag in s3s.PUBLIC_ACCESS_FLAGS if not state.flag(flag)]
        expect(not off, f"{name} blocks only {4 - len(off)} of 4: {', '.join(off)} "
                        f"{'is' if len(off) == 1 else 'are'} false or unset; expected all four true "
                        f"({', '.join(s3s.PUBLIC_ACCESS_FLAGS)}).")
        expect(state.ownership == "BucketOwnerEnforced",
               f"{name} has Object Ownership {state.ownership or 'unset'}, so ACLs still apply; expected "
               "BucketOwnerEnforced (ACLs disabled, the bucket owner owns every object).")
    return (f"{' and '.join(LAB_BUCKETS)} block all public access (all four flags) and have ACLs disabled "
            "(BucketOwnerEnforced).")


@checker.task("vpc-endpoint-only")
def vpc_endpoint_only(ctx: CheckContext) -> str:
    lab = ctx.fixture(read_lab)
    document = rides_policy(ctx, lab.want_vpce)
    misses = evaluate_rows(document, vpce_rows(lab))
    if not misses:
        return (f"Only requests through {lab.vpce_id} reach {RIDES}'s objects; {ADMIN_ROLE} keeps access from "
                "anywhere, and another endpoint in the same VPC is refused.")
    statements = policy.statement_names(document)
    admin_denied = [m for m in misses if m.row.request.principal == lab.admin.principal]
    inside_denied = [m for m in misses if m.row.expect == "not-deny" and m not in admin_denied]
    outside_allowed = [m for m in misses if m.row.expect == "deny"]
    by_vpc = [(n, s) for n, s in statements if _mentions(s, "aws:SourceVpc")]
    if by_vpc:
        name, statement = by_vpc[0]
        consequence = (f"it denies {inside_denied[0].row.label}" if inside_denied
                       else f"it does not deny {outside_allowed[0].row.label}" if outside_allowed
                       else f"it denies {admin_denied[0].row.label}")
        raise Fail(f"Statement '{name}' tests aws:SourceVpc ({policy.describe_conditions(statement)}): that is the "
                   f"VPC's id ({lab.vpc_id}), not the endpoint's; {consequence}. Use aws:SourceVpce = {lab.vpce_id}. "
                   f"Expected {lab.want_vpce}.")
    if admin_denied:
        miss = next((m for m in admin_denied if m.row.request.action == "s3:PutBucketPolicy"), admin_denied[0])
        name, statement = (_deniers(document, miss) or [("?", {})])[0]
        hint = ""
        if "NotPrincipal" in statement:
            hint = (" NotPrincipal only spares a role session when it lists the session ARN "
                    f"(arn:aws:sts::{lab.account}:assumed-role/{ADMIN_ROLE}/SESSION) and the account, "
                    "so use the aws:PrincipalArn condition instead.")
        raise Fail(f"Your policy would lock the admin out: {miss.row.label} is denied by statement '{name}' "
                   f"({policy.describe_conditions(statement)}), so nobody could even fix the policy from outside "
                   f"the VPC.{hint} Expected {lab.want_vpce}.")
    if inside_denied:
        miss = inside_denied[0]
        named = sorted({v for _, s in _deniers(document, miss) for v in _condition_values(s, "aws:SourceVpce")})
        wrong_id = (f" It names {', '.join(named)}, but the lab endpoint is {lab.vpce_id}"
                    " (`awslocal ec2 describe-vpc-endpoints`)." if named and lab.vpce_id.lower() not in named else "")
        raise Fail(f"Your policy denies {miss.row.label}: {_blame(document, miss)}.{wrong_id} Expected {lab.want_vpce}.")
    miss = outside_allowed[0]
    raise Fail(f"Your policy does not deny {miss.row.label} ({_why_not_denied(miss)}): nothing refuses requests "
               f"that do not come through {lab.vpce_id}. Expected {lab.want_vpce}.")


def _returned_names(result) -> list[str]:
    if isinstance(result, (str, bytes)) or result is None:
        raise Fail(f"{AUDIT_FUNCTION}() returned {result!r}; expected a list of bucket names.")
    try:
        names = list(result)
    except TypeError:
        raise Fail(f"{AUDIT_FUNCTION}() returned {type(result).__name__}; expected a list of bucket names.") from None
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise Fail(f"{AUDIT_FUNCTION}() returned {bad[0]!r} among the names; expected bucket names as strings.")
    return names


def _public_read(name: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*"}]}


def _https_only(name: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def _delete_bucket(s3, name: str) -> None:
    try:
        s3.delete_bucket_policy(Bucket=name)
    except ClientError:
        pass
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)
    except ClientError:
        pass


AUDIT_ATTEMPTS, AUDIT_PATIENCE = 4, 5.0


def _other_probe_buckets(s3, ctx: CheckContext) -> set[str]:
    return {b["Name"] for b in s3.list_buckets().get("Buckets", [])
            if b["Name"].startswith(f"{PROBE_BUCKET_PREFIX}chk-") and ctx.run_id not in b["Name"]}


def _call_audit(ctx: CheckContext, function, s3):
    """Call the learner's audit; again when it raised while another check's probe buckets were
    about. They come and go, so a bucket the function listed may be gone when it reads its policy
    (NoSuchBucket): the concurrent check's doing, not the learner's. Before each retry, wait (up to
    AUDIT_PATIENCE s) for the other checks to remove their probe buckets."""
    for attempt in range(1, AUDIT_ATTEMPTS + 1):
        others = _other_probe_buckets(s3, ctx)
        try:
            return ctx.call_learner(function)
        except Fail:
            others |= _other_probe_buckets(s3, ctx)
            if attempt == AUDIT_ATTEMPTS or not others:
                raise
            deadline = time.monotonic() + AUDIT_PATIENCE
            while _other_probe_buckets(s3, ctx) and time.monotonic() < deadline:
                time.sleep(0.1)


@contextlib.contextmanager
def _seeding(s3, created: list[str]):
    """Delete the probe buckets in `created` on the way out, whatever happened."""
    try:
        yield
    finally:
        for name in created:
            _delete_bucket(s3, name)


@checker.task("find-public-buckets")
def find_public_buckets(ctx: CheckContext) -> str:
    function = ctx.learner_function(AUDIT_FILE, AUDIT_FUNCTION)
    ctx.fixture(sweep_stale_probes)
    s3 = ctx.client("s3")
    public, private = f"{PROBE_BUCKET_PREFIX}{ctx.run_id}-public", f"{PROBE_BUCKET_PREFIX}{ctx.run_id}-private"
    created = []
    # The learner's audit lists every bucket: another check's probe buckets appearing and
    # vanishing meanwhile would trip it, so concurrent checks take turns here.
    with ctx.exclusive("s3-security-probe-buckets"), _seeding(s3, created):
        for name in (public, private):
            s3.create_bucket(Bucket=name)
            created.append(name)
        try:
            s3.put_bucket_policy(Bucket=public, Policy=json.dumps(_public_read(public)))
        except ClientError as exc:
            raise Fail(f"Could not seed the public probe bucket {public} ({s3s.error_code(exc)}: "
                       f"{exc.response['Error'].get('Message', '')}); is Block Public Access on for the whole account? "
                       "The check needs one public bucket to test your function.") from None
        s3.put_bucket_policy(Bucket=private, Policy=json.dumps(_https_only(private)))
        result = _call_audit(ctx, function, s3)
    names = _returned_names(result)
    probes = sorted(n for n in set(names) if n in (public, private))
    note = (" Note: on ministack get-bucket-policy-status returns no IsPublic at all, so read the policy "
            "statements yourself when it is missing." if ctx.backend == "ministack" else "")
    expect(public in probes,
           f"Seeded two buckets: {public} (its policy Allows Principal * s3:GetObject with no condition) and "
           f"{private} (only a Deny for Principal *); {AUDIT_FUNCTION}() reported "
           f"{', '.join(probes) or 'neither'}, expected {public}.{note}")
    expect(private not in probes,
           f"{AUDIT_FUNCTION}() reported {private} as public, but its only statement is a Deny for Principal * "
           "(HTTPS only): a `*` principal makes a bucket public only in an Allow without a restricting condition.")
    others = sorted(n for n in set(names) - {public, private} if not n.startswith(f"{PROBE_BUCKET_PREFIX}chk-"))
    return (f"{AUDIT_FUNCTION}() found the public probe bucket and left the private one out"
            + (f" (it also reported {', '.join(others)})." if others else "."))


def sensitive_buckets(ctx: CheckContext) -> dict[str, s3s.BucketState]:
    states = dict(ctx.fixture(read_buckets))
    s3 = ctx.client("s3")
    for item in s3.list_buckets().get("Buckets", []):
        name = item["Name"]
        if name.startswith(SENSITIVE_PREFIX) and name not in states:
            states[name] = s3s.read_bucket(s3, name, acl=True)
    return {name: state for name, state in sorted(states.items()) if state.exists}


def public_findings(state: s3s.BucketState) -> list[str]:
    findings = []
    if state.policy:
        try:
            for name, _, why in s3s.public_statements(state.policy):
                findings.append(f"statement '{name}' {why}")
        except policy.PolicyError as problem:
            findings.append(f"its policy {problem}")
    if state.ownership != "BucketOwnerEnforced":
        findings += [f"its ACL grants {s3s.describe_grant(g)}" for g in state.public_acl_grants]
    return findings


@checker.task("access-review")
def access_review(ctx: CheckContext) -> str:
    states = sensitive_buckets(ctx)
    problems = []
    for name, state in states.items():
        findings = public_findings(state)
        if findings:
            neutralised = (" (Block Public Access RestrictPublicBuckets hides it today, but it is one setting away)"
                           if state.flag("RestrictPublicBuckets") else "")
            problems.append(f"{name} is public: {'; '.join(findings)}{neutralised}")
    expect(not problems, "; ".join(problems) + ". Expected no Allow to * (or an ACL grant to everyone) on a "
                         "sensitive-* bucket unless a condition pins it to your VPC endpoint, account or network; "
                         "`lab report s3-security access-review` lists every finding.")
    return (f"No sensitive-* bucket grants public access ({', '.join(states)} reviewed); "
            "`lab report s3-security access-review` shows the full review.")


# -- the access review report --------------------------------------------------------------
@checker.report("access-review")
def access_review_report(ctx: CheckContext) -> str:
    """Markdown: per bucket, its public-access settings and a finding per policy statement."""
    s3 = ctx.client("s3")
    try:
        lab = ctx.fixture(read_lab)
        account = lab.account
    except Fail:
        account = None
    lines = [
        "# Access review: S3 buckets",
        "",
        f"Backend {ctx.backend}, account {account or 'unknown'}, "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Access Analyzer is not emulated: this review "
        "applies the same rules to each bucket policy. A statement is **public** when it Allows a `*` principal "
        "and no condition pins it to fixed values of aws:SourceVpce, aws:SourceVpc, aws:SourceIp, aws:SourceArn, "
        "aws:SourceAccount, aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalOrgID or aws:userid.",
        "",
    ]
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", []) if not b["Name"].startswith(PROBE_BUCKET_PREFIX)]
    if not names:
        lines.append("No buckets.")
    public_count = 0
    for name in sorted(names):
        state = s3s.read_bucket(s3, name, acl=True)
        if not state.exists:
            continue
        findings = public_findings(state)
        public_count += bool(findings)
        verdict = "PUBLIC" if findings else "not public"
        lines += [f"## {name}: {verdict}", ""]
        flags = ", ".join(f"{flag} {'on' if state.flag(flag) else 'OFF'}" for flag in s3s.PUBLIC_ACCESS_FLAGS)
        rule = state.encryption or {}
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        encryption = default.get("SSEAlgorithm") or "none"
        if default.get("KMSMasterKeyID"):
            encryption += f" ({default['KMSMasterKeyID']}{', bucket key' if rule.get('BucketKeyEnabled') else ''})"
        lines += [
            f"- Block Public Access: {flags if state.public_access_block else 'not configured'}",
            f"- Object Ownership: {state.ownership or 'not configured'}"
            + (" (ACLs disabled)" if state.ownership == "BucketOwnerEnforced" else " (ACLs apply)"),
            f"- Default encryption (as reported): {encryption}",
        ]
        grants = state.public_acl_grants
        lines.append(f"- ACL grants to everyone: {', '.join(s3s.describe_grant(g) for g in grants) if grants else 'none'}")
        if not state.policy:
            lines += ["- Bucket policy: none", ""]
            continue
        try:
            review = s3s.review_policy(state.policy, account)
        except policy.PolicyError as problem:
            lines += [f"- Bucket policy: unreadable, it {problem}", ""]
            continue
        lines += ["- Bucket policy:"]
        for item in review:
            label = {"public": "**PUBLIC**", "wildcard-restricted": "`*` principal",
                     "wildcard-deny": "`*` principal in a Deny", "unconditioned-allow": "**Allow without conditions**",
                     "cross-account": "**cross-account**", "ok": "ok"}[item.finding]
            lines.append(f"  - `{item.name}`: {item.effect} {item.principal} {item.actions} on {item.resources}, "
                         f"{'when ' + item.conditions if item.conditions != 'no condition' else 'with no condition'}. "
                         f"{label}{': ' + item.note if item.note else ''}")
        lines.append("")
    lines.append(f"**{public_count} public bucket(s)** among {len(names)}.")
    return "\n".join(lines)


# -- lifecycle ----------------------------------------------------------------------------------
def _ensure_key(kms) -> None:
    if lab_key(kms):
        return
    key = kms.create_key(Description="Encrypts ride receipts in sensitive-receipts (SSE-KMS)",
                         Tags=[{"TagKey": "Project", "TagValue": "rides"}])["KeyMetadata"]
    kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=key["KeyId"])


def _ensure_legacy_bucket(s3, name: str, sample_key: str, legacy_policy: dict | None) -> None:
    """Create the bucket as it was in 2021; never touch one that exists (it holds the learner's work)."""
    if s3s.bucket_exists(s3, name):
        return
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "Project", "Value": "rides"}]})
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_object(Bucket=name, Key=sample_key, Body=b'{"rideId": "ride-0001", "fare": 23.5}\n')
    if legacy_policy:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(legacy_policy))


@checker.setup
def setup(ctx: CheckContext) -> None:
    cloudformation = ctx.client("cloudformation")
    status, _ = stack_outputs(ctx)
    if status is None or "ROLLBACK" in status or "DELETE" in status:
        if status is not None:
            _delete_stack(ctx)
        cloudformation.create_stack(StackName=STACK, TemplateBody=ctx.lab_file("template.yaml").read_text(),
                                    Tags=[{"Key": "Project", "Value": "rides"}])
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=STACK, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    _ensure_key(ctx.client("kms"))
    s3 = ctx.client("s3")
    _ensure_legacy_bucket(s3, RIDES, RIDE_OBJECT, None)
    _ensure_legacy_bucket(s3, RECEIPTS, RECEIPT_OBJECT, LEGACY_RECEIPTS_POLICY)


def solution_policy(ctx: CheckContext, lab: LabState) -> str:
    text = ctx.lab_file("solution/sensitive-rides-policy.json").read_text()
    return json.dumps(json.loads(text.replace("VPCE_ID", lab.vpce_id).replace("ADMIN_ROLE_ARN", lab.admin_arn)))


@checker.solve
def solve(ctx: CheckContext) -> None:
    """The reference solution, as the README's commands build it."""
    lab = read_lab(ctx)
    s3 = ctx.client("s3")
    s3.put_bucket_encryption(Bucket=RIDES, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_encryption(Bucket=RECEIPTS, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ALIAS},
         "BucketKeyEnabled": True}]})
    for name in LAB_BUCKETS:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            flag: True for flag in s3s.PUBLIC_ACCESS_FLAGS})
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_policy(Bucket=RIDES, Policy=solution_policy(ctx, lab))
    s3.delete_bucket_policy(Bucket=RECEIPTS)  # the access review's finding: the public receipt links


def _delete_stack(ctx: CheckContext) -> None:
    """Delete the stack; moto deletes the VPC before its endpoint and route table, so clear those first."""
    cloudformation, ec2 = ctx.client("cloudformation"), ctx.client("ec2")
    try:
        resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                     for r in cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]}
    except ClientError:
        return
    try:
        cloudformation.delete_stack(StackName=STACK)
        return
    except ClientError:
        pass
    for call, kwargs in (
        (ec2.delete_vpc_endpoints, {"VpcEndpointIds": [resources.get("S3GatewayEndpoint", "")]}),
        (ec2.delete_route_table, {"RouteTableId": resources.get("PrivateRouteTable", "")}),
        (ec2.delete_vpc, {"VpcId": resources.get("RidesVpc", "")}),
        (cloudformation.delete_stack, {"StackName": STACK}),
    ):
        try:
            call(**kwargs)
        except ClientError:
            pass
    iam = ctx.client("iam")
    for role in (ADMIN_ROLE, APP_ROLE):
        try:
            iam.delete_role(RoleName=role)
        except ClientError:
            pass


@checker.cleanup
def cleanup(ctx: CheckContext) -> None:
    """Remove the buckets, the key alias (the key is scheduled for deletion) and the stack (`lab reset`)."""
    s3 = ctx.client("s3")
    for item in s3.list_buckets().get("Buckets", []):
        if item["Name"] in LAB_BUCKETS or item["Name"].startswith(PROBE_BUCKET_PREFIX):
            _delete_bucket(s3, item["Name"])
    kms = ctx.client("kms")
    key = lab_key(kms)
    if key:
        kms.delete_alias(AliasName=KEY_ALIAS)
        try:
            kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        except ClientError:
            pass
    _delete_stack(ctx)
