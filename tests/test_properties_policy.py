"""Property-based tests of our resource-policy evaluator (checkers/_support/policy.py) and the
S3 policy readers built on it (checkers/_support/s3.py).

- Robustness: any JSON a learner can store as a policy gives a Decision or a PolicyError
  (which checks turn into a Fail naming the problem), never another exception.
- Reference semantics: on a grammar of realistic statements (principals, wildcard actions
  and resources, the condition operators the labs use, ...IfExists, Null) the evaluator
  agrees with a small reference written from AWS's documented evaluation logic: an explicit
  Deny wins, then an Allow, else implicit deny; `*` and `?` are the only wildcards.
- Metamorphic: statement order never matters; a universal Deny denies everything; a policy
  without an Allow never allows.
"""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers._support import policy
from checkers._support import s3 as s3s

ACCOUNT, OTHER = "111122223333", "999988887777"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/lab-check"
OTHER_SESSION = f"arn:aws:sts::{OTHER}:assumed-role/app/lab-check"

# -- a reference evaluator ---------------------------------------------------------------------
def ref_glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def as_list(value):
    return value if isinstance(value, list) else [value]


def ref_principal(element, caller) -> bool:
    if element == "*":
        return True
    values = [(kind, str(v)) for kind, vs in element.items() for v in as_list(vs)]
    if caller == "*":  # anonymous: only a wildcard
        return any(v == "*" for _, v in values)
    for kind, value in values:
        if kind == "AWS" and value == "*":
            return True
        for who in as_list(caller.get(kind, [])):
            if value == who:
                return True
            if kind == "AWS":
                account = who.split(":")[4]
                if value in (account, f"arn:aws:iam::{account}:root"):
                    return True
                if who.startswith(f"arn:aws:sts::{account}:assumed-role/") and \
                        value == f"arn:aws:iam::{account}:role/{who.split('/')[1]}":
                    return True
    return False


def ref_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def ref_condition(operator: str, key: str, wanted, context: dict) -> bool:
    wanted = [str(w) for w in as_list(wanted)]
    present = key.lower() in context
    actual = context.get(key.lower())
    if operator == "Null":
        return (not present) == (wanted[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = base in ("StringNotEquals", "StringNotLike")
    if not present:
        return if_exists or negated
    if base in ("StringEquals", "StringNotEquals"):
        hit = any(str(actual) == w for w in wanted)
    elif base in ("StringLike", "StringNotLike"):
        hit = any(ref_glob(w, str(actual)) for w in wanted)
    elif base == "Bool":
        hit = any(str(actual).lower() == w.lower() for w in wanted)
    elif base == "NumericLessThan":
        hit = any(ref_number(actual) is not None and ref_number(w) is not None and ref_number(actual) < ref_number(w)
                  for w in wanted)
    else:
        raise AssertionError(base)
    return not hit if negated else hit


def ref_applies(statement: dict, request: policy.Request) -> bool:
    context = {k.lower(): v for k, v in request.context.items()}
    if not ref_principal(statement["Principal"], request.principal):
        return False
    if "Action" in statement and not any(ref_glob(p, request.action, True) for p in as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(ref_glob(p, request.action, True) for p in as_list(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(ref_glob(p, request.resource) for p in as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(ref_glob(p, request.resource) for p in as_list(statement["NotResource"])):
        return False
    return all(ref_condition(op, key, values, context)
               for op, pairs in statement.get("Condition", {}).items() for key, values in pairs.items())


def reference(document: dict, request: policy.Request) -> str:
    applying = [s for s in as_list(document["Statement"]) if ref_applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applying):
        return policy.DENY
    return policy.ALLOW if applying else policy.IMPLICIT_DENY


# -- strategies ------------------------------------------------------------------------------------
principals = st.one_of(
    st.just("*"),
    st.fixed_dictionaries({"AWS": st.one_of(
        st.sampled_from(["*", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ROLE, OTHER, f"arn:aws:iam::{OTHER}:role/app",
                         f"arn:aws:iam::{ACCOUNT}:role/other", SESSION]),
        st.lists(st.sampled_from([ACCOUNT, ROLE, OTHER, "*"]), min_size=1, max_size=3))}),
    st.fixed_dictionaries({"Service": st.sampled_from(["sns.amazonaws.com", "s3.amazonaws.com"])}),
)
ACTIONS = ["s3:*", "s3:GetObject", "s3:Get*", "S3:getobject", "s3:PutObject", "s3:ListBucket", "*", "s3:?etObject",
           "sqs:SendMessage", "s3:Put*"]
RESOURCES = ["arn:aws:s3:::rides", "arn:aws:s3:::rides/*", "*", "arn:aws:s3:::other/*", "arn:aws:s3:::ride?/*",
             "arn:aws:s3:::rides[1]/*", "arn:aws:s3:::rides*"]
KEYS = {"aws:SecureTransport": ["true", "false", "TRUE"], "aws:SourceVpce": ["vpce-1", "vpce-2", "vpce-*"],
        "s3:x-amz-server-side-encryption": ["AES256", "aws:kms", "aws:*"], "s3:TlsVersion": ["1.2", "1.3", "x"]}
OPERATORS = ["StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "Bool", "NumericLessThan",
             "StringEqualsIfExists", "StringNotEqualsIfExists", "BoolIfExists", "Null"]


@st.composite
def conditions(draw):
    result = {}
    for operator in draw(st.lists(st.sampled_from(OPERATORS), max_size=2, unique=True)):
        pairs = {}
        for key in draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=2, unique=True)):
            values = ["true", "false"] if operator == "Null" else KEYS[key]
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
            pairs[draw(st.sampled_from([key, key.upper(), key.lower()]))] = chosen if len(chosen) > 1 else chosen[0]
        result[operator] = pairs
    return result


@st.composite
def statements(draw):
    statement = {"Effect": draw(st.sampled_from(["Allow", "Deny"])), "Principal": draw(principals)}
    actions = draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3))
    statement["NotAction" if draw(st.integers(0, 4)) == 0 else "Action"] = actions if len(actions) > 1 else actions[0]
    resources = draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2))
    statement["NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"] = resources
    if draw(st.booleans()):
        statement["Sid"] = draw(st.sampled_from(["A", "Deny-HTTP", "sid ü"]))
    condition = draw(conditions())
    if condition:
        statement["Condition"] = condition
    return statement


documents = st.builds(lambda s: {"Version": "2012-10-17", "Statement": s}, st.lists(statements(), min_size=1, max_size=4))


@st.composite
def requests(draw):
    context = {}
    for key, values in KEYS.items():
        if draw(st.booleans()):
            context[key] = draw(st.sampled_from(values + ["1.0", "true"]))
    return policy.Request(
        action=draw(st.sampled_from(["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject",
                                     "sqs:SendMessage"])),
        resource=draw(st.sampled_from(["arn:aws:s3:::rides", "arn:aws:s3:::rides/k", "arn:aws:s3:::rides[1]/k",
                                       "arn:aws:s3:::rides1/k", "arn:aws:s3:::other/k"])),
        principal=draw(st.sampled_from(["*", {"AWS": SESSION}, {"AWS": OTHER_SESSION}, {"AWS": ROLE},
                                        {"Service": "sns.amazonaws.com"}])),
        context=context,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["Allow", "Deny", "*", "s3:*", "Bool", "Null", "StringLike", "aws:SecureTransport"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["Statement", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                         "NotResource", "Condition", "AWS", "Service", "Sid", "Bool", "Null", "StringEquals",
                         "ForAnyValue:StringLike", "ForAllValues:StringEquals", "NumericLessThanIfExists",
                         "IpAddress", "DateLessThan", "aws:SourceIp", "aws:CurrentTime", "Foo:Bar"]) | st.text(max_size=5),
        children, max_size=4),
    max_leaves=25)


# -- properties ----------------------------------------------------------------------------------
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, requests())
def test_the_evaluator_agrees_with_the_reference_semantics(document, request):
    decision = policy.evaluate(document, request)
    assert decision.effect == reference(document, request), json.dumps(document)
    assert decision.reason


@settings(max_examples=150, deadline=None)
@given(documents, requests(), st.randoms(use_true_random=False))
def test_statement_order_never_matters(document, request, rng):
    shuffled = list(document["Statement"])
    rng.shuffle(shuffled)
    assert policy.evaluate({**document, "Statement": shuffled}, request).effect == policy.evaluate(document, request).effect


@settings(max_examples=200, deadline=None)
@given(documents, requests())
def test_a_universal_deny_denies_and_a_policy_without_allow_never_allows(document, request):
    universal = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
    assert policy.evaluate({**document, "Statement": [*document["Statement"], universal]}, request).effect == policy.DENY
    denies_only = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    if denies_only:
        assert not policy.evaluate({**document, "Statement": denies_only}, request).allowed


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, json_values.map(json.dumps), st.text(max_size=40)), requests())
def test_any_stored_document_gives_a_decision_or_a_policy_error(document, request):
    try:
        decision = policy.evaluate(document, request)
    except policy.PolicyError as problem:
        assert str(problem)
        return
    assert decision.effect in (policy.ALLOW, policy.DENY, policy.IMPLICIT_DENY) and decision.reason


@settings(max_examples=200, deadline=None)
@given(st.one_of(documents, json_values))
def test_the_s3_readers_never_crash_on_a_policy(document):
    try:
        policy.parse(document)
    except policy.PolicyError:
        return
    s3s.public_statements(document)
    s3s.review_policy(document, owner_account=ACCOUNT)
    s3s.lint_bucket_policy(document, "rides")
    for _, statement in policy.statement_names(document):
        policy.describe_conditions(statement)
        s3s.describe_principal(statement)


@given(st.text(max_size=30))
def test_a_literal_pattern_matches_itself_and_only_wildcards_are_special(text):
    literal = text.replace("*", "").replace("?", "")
    assert policy.fnmatchcase(literal, literal)
    assert policy.fnmatchcase(text, "*")
    if literal:
        assert not policy.fnmatchcase(literal + "x", literal)
