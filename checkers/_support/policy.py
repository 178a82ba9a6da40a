"""Our own evaluator for resource policies (queue, topic and bucket policies).

Emulators store these policies but do not enforce them faithfully (see
emulators.md), so checks decide "would AWS allow this request?" here, over a
matrix of requests. It follows AWS's documented evaluation logic for a single
resource-based policy: an explicit Deny wins, then an Allow, else implicit deny.

Conditions: the String*, Numeric*, Date*, Bool, Arn*, IpAddress/NotIpAddress,
Null operators, the ...IfExists suffix and the ForAnyValue:/ForAllValues:
set prefixes, with case-insensitive keys and ${...} policy variables. A
missing key makes a positive operator false and a negated operator true.

Principals: "*" matches everyone, anonymous callers included; {"AWS": "*"}
matches every AWS identity. An account ("123456789012" or its :root ARN)
matches every identity of that account, and a role ARN matches the role's
assumed-role sessions (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION). In
NotPrincipal neither shortcut applies, as AWS documents: a Deny with
NotPrincipal only spares a caller whose own ARN (for a role, the session ARN)
and whose account are both listed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "allow", "deny", "implicit-deny"


class PolicyError(ValueError):
    """The document is not a policy AWS would accept; the message says where."""


@dataclass(frozen=True)
class Request:
    action: str  # "sqs:SendMessage"
    resource: str  # an ARN
    principal: str | dict = "*"  # {"Service": "sns.amazonaws.com"} / {"AWS": "arn:..."} / "*" (anonymous)
    context: dict[str, Any] = field(default_factory=dict)  # condition keys, e.g. {"aws:SourceArn": "..."}


@dataclass
class Decision:
    effect: str
    statement: str | None = None  # Sid, or "statement N"
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


def parse(document: str | dict) -> dict:
    """The policy as a dict with a list of statements, or PolicyError."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(document, dict):
        raise PolicyError("must be a JSON object")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("has no Statement list")
    for index, statement in enumerate(statements, 1):
        if not isinstance(statement, dict):
            raise PolicyError(f"statement {index} is not an object")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f"statement {index} has Effect {statement.get('Effect')!r}; expected Allow or Deny")
        if "Action" not in statement and "NotAction" not in statement:
            raise PolicyError(f"statement {index} has no Action")
    return {**document, "Statement": statements}


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _name(statement: dict, index: int) -> str:
    return statement.get("Sid") or f"statement {index}"


# -- element matching --------------------------------------------------------------
@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern:
    # AWS wildcards are * (any run of characters) and ? (one character); everything else,
    # [ and ] included, is literal (fnmatch would read [..] as a character class).
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def fnmatchcase(value: str, pattern: str) -> bool:
    """Whether `value` matches the AWS wildcard `pattern` (case-sensitive)."""
    return _glob(pattern).fullmatch(value) is not None


def _action_matches(patterns, action: str) -> bool:
    return any(fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))


def _resource_matches(patterns, resource: str) -> bool:
    return any(fnmatchcase(resource, str(p)) for p in _as_list(patterns))


def _principal_matches(element, principal) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    if principal == "*":  # anonymous caller: only a wildcard principal matches
        return any(value == "*" for value in _flatten(element.values()))
    for kind, values in element.items():
        for value in map(str, _as_list(values)):
            if value == "*" and kind == "AWS":
                return True
            for wanted in _as_list(principal.get(kind)):
                if value == wanted:
                    return True
                if kind != "AWS":
                    continue
                # "arn:aws:iam::111122223333:root" or "111122223333" names the whole account.
                account = _account_of(value)
                if account and _account_of(wanted) == account and (value.endswith(":root") or value.isdigit()):
                    return True
                session_role = _role_of_session(wanted)
                if session_role and session_role == _role_name_of(value) and _account_of(wanted) == account:
                    return True
    return False


def _not_principal_spares(element, principal) -> bool:
    """Whether NotPrincipal names this caller: its own ARN and its account, exactly."""
    if element == "*":
        return True
    if not isinstance(element, dict) or principal == "*":
        return False  # an anonymous caller is never named
    for kind, wanted_values in principal.items():
        listed = [str(v) for v in _as_list(element.get(kind))]
        if "*" in listed:
            continue
        for wanted in _as_list(wanted_values):
            if wanted not in listed:
                return False
            account = _account_of(wanted) if kind == "AWS" else None
            if account and not wanted.endswith(":root") and not (
                account in listed or f"arn:aws:iam::{account}:root" in listed
            ):
                return False
    return True


def _role_of_session(arn: str) -> str | None:
    """'NAME' for arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION."""
    match = re.fullmatch(r"arn:aws[\w-]*:sts::\d{12}:assumed-role/([^/]+)/[^/]+", str(arn or ""))
    return match.group(1) if match else None


def _role_name_of(arn: str) -> str | None:
    """'NAME' for arn:aws:iam::ACCOUNT:role/PATH/NAME (the path is not part of a session ARN)."""
    match = re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/(?:.*/)?([^/]+)", str(arn or ""))
    return match.group(1) if match else None


def _flatten(values):
    for value in values:
        yield from _as_list(value)


def _account_of(arn_or_id: str) -> str | None:
    arn_or_id = str(arn_or_id or "")
    if re.fullmatch(r"\d{12}", arn_or_id):
        return arn_or_id
    parts = arn_or_id.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


# -- conditions --------------------------------------------------------------------
def _substitute(value: str, context: dict) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: str(context.get(m.group(1).lower(), m.group(0))), value)


def _to_number(value):
    return float(value)


def _to_date(value):
    if isinstance(value, (int, float)) or str(value).isdigit():
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _ip_in(actual, network):
    return ipaddress.ip_address(str(actual)) in ipaddress.ip_network(str(network), strict=False)


_BASE_OPERATORS = {
    "StringEquals": (lambda a, e: str(a) == str(e), False),
    "StringNotEquals": (lambda a, e: str(a) == str(e), True),
    "StringEqualsIgnoreCase": (lambda a, e: str(a).lower() == str(e).lower(), False),
    "StringNotEqualsIgnoreCase": (lambda a, e: str(a).lower() == str(e).lower(), True),
    "StringLike": (lambda a, e: fnmatchcase(str(a), str(e)), False),
    "StringNotLike": (lambda a, e: fnmatchcase(str(a), str(e)), True),
    "ArnEquals": (lambda a, e: fnmatchcase(str(a), str(e)), False),
    "ArnLike": (lambda a, e: fnmatchcase(str(a), str(e)), False),
    "ArnNotEquals": (lambda a, e: fnmatchcase(str(a), str(e)), True),
    "ArnNotLike": (lambda a, e: fnmatchcase(str(a), str(e)), True),
    "NumericEquals": (lambda a, e: _to_number(a) == _to_number(e), False),
    "NumericNotEquals": (lambda a, e: _to_number(a) == _to_number(e), True),
    "NumericLessThan": (lambda a, e: _to_number(a) < _to_number(e), False),
    "NumericLessThanEquals": (lambda a, e: _to_number(a) <= _to_number(e), False),
    "NumericGreaterThan": (lambda a, e: _to_number(a) > _to_number(e), False),
    "NumericGreaterThanEquals": (lambda a, e: _to_number(a) >= _to_number(e), False),
    "DateEquals": (lambda a, e: _to_date(a) == _to_date(e), False),
    "DateNotEquals": (lambda a, e: _to_date(a) == _to_date(e), True),
    "DateLessThan": (lambda a, e: _to_date(a) < _to_date(e), False),
    "DateLessThanEquals": (lambda a, e: _to_date(a) <= _to_date(e), False),
    "DateGreaterThan": (lambda a, e: _to_date(a) > _to_date(e), False),
    "DateGreaterThanEquals": (lambda a, e: _to_date(a) >= _to_date(e), False),
    "Bool": (lambda a, e: str(a).lower() == str(e).lower(), False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}


def _operator_holds(operator: str, key: str, expected_values, context: dict) -> bool:
    set_prefix = None
    if ":" in operator:
        set_prefix, operator = operator.split(":", 1)
        if set_prefix not in ("ForAnyValue", "ForAllValues"):
            raise PolicyError(f"unknown condition set operator {set_prefix!r}")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    present = key.lower() in context
    actual = context.get(key.lower())

    if base == "Null":
        if not _as_list(expected_values):
            raise PolicyError(f"has a Null condition on {key} with no value; expected true or false")
        wanted_absent = str(_as_list(expected_values)[0]).lower() == "true"
        return (not present) == wanted_absent
    if base not in _BASE_OPERATORS:
        raise PolicyError(f"unknown condition operator {operator!r}")
    compare, negated = _BASE_OPERATORS[base]
    expected = [_substitute(str(v), context) if isinstance(v, str) else v for v in _as_list(expected_values)]

    if not present:
        if set_prefix == "ForAllValues":
            return True  # vacuously true over an empty set
        return if_exists or negated

    actual_values = _as_list(actual)

    def single(value) -> bool:
        try:
            hit = any(compare(value, e) for e in expected)
        except (ValueError, TypeError):
            hit = False  # e.g. a non-number under a Numeric operator never matches
        return not hit if negated else hit

    if set_prefix == "ForAllValues":
        return all(single(v) for v in actual_values)
    return any(single(v) for v in actual_values)


def _conditions_hold(conditions: dict | None, context: dict) -> bool:
    if conditions is not None and not isinstance(conditions, dict):
        raise PolicyError("has a Condition that is not an object of operators")
    for operator, pairs in (conditions or {}).items():
        if not isinstance(pairs, dict):
            raise PolicyError(f"condition {operator!r} must map keys to values")
        for key, values in pairs.items():
            if not _operator_holds(operator, key, values, context):
                return False
    return True


# -- evaluation --------------------------------------------------------------------
def statement_applies(statement: dict, request: Request, context: dict) -> bool:
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.principal):
        return False
    if "NotPrincipal" in statement and _not_principal_spares(statement["NotPrincipal"], request.principal):
        return False
    if "Action" in statement and not _action_matches(statement["Action"], request.action):
        return False
    if "NotAction" in statement and _action_matches(statement["NotAction"], request.action):
        return False
    if "Resource" in statement and not _resource_matches(statement["Resource"], request.resource):
        return False
    if "NotResource" in statement and _resource_matches(statement["NotResource"], request.resource):
        return False
    if "Resource" not in statement and "NotResource" not in statement:
        return False  # AWS rejects such a resource policy; it grants nothing
    return _conditions_hold(statement.get("Condition"), context)


def evaluate(document: str | dict, request: Request) -> Decision:
    policy = parse(document)
    context = {key.lower(): value for key, value in request.context.items()}
    allow = None
    for index, statement in enumerate(policy["Statement"], 1):
        if not statement_applies(statement, request, context):
            continue
        if statement["Effect"] == "Deny":
            return Decision(DENY, _name(statement, index), f"denied by {_name(statement, index)}")
        allow = allow or _name(statement, index)
    if allow:
        return Decision(ALLOW, allow, f"allowed by {allow}")
    return Decision(IMPLICIT_DENY, None, "no statement allows it")


def applicable_statements(document: str | dict, request: Request) -> list[tuple[str, dict]]:
    """Every statement that applies to the request, as (name, statement), in order.

    For explanations: evaluate() stops at the first Deny, a message may want them all.
    """
    policy = parse(document)
    context = {key.lower(): value for key, value in request.context.items()}
    return [
        (_name(statement, index), statement)
        for index, statement in enumerate(policy["Statement"], 1)
        if statement_applies(statement, request, context)
    ]


def account_of(arn_or_id: str) -> str | None:
    """The 12-digit account of an ARN or account id, or None."""
    return _account_of(arn_or_id)


def statement_names(document: str | dict) -> list[tuple[str, dict]]:
    """(name, statement) for every statement: its Sid, or "statement N"."""
    return [(_name(statement, index), statement) for index, statement in enumerate(parse(document)["Statement"], 1)]


def resource_covers(statement: dict, resource: str) -> bool:
    """Whether the statement's Resource/NotResource covers this ARN."""
    if "Resource" in statement:
        return _resource_matches(statement["Resource"], resource)
    if "NotResource" in statement:
        return not _resource_matches(statement["NotResource"], resource)
    return False


def action_covers(statement: dict, action: str) -> bool:
    """Whether the statement's Action/NotAction covers this action."""
    if "Action" in statement:
        return _action_matches(statement["Action"], action)
    if "NotAction" in statement:
        return not _action_matches(statement["NotAction"], action)
    return False


def condition_entries(statement: dict) -> list[tuple[str, str, list]]:
    """(operator, key, values) for each condition of the statement, keys as written."""
    entries = []
    conditions = statement.get("Condition")
    for operator, pairs in (conditions if isinstance(conditions, dict) else {}).items():
        if isinstance(pairs, dict):
            for key, values in pairs.items():
                entries.append((operator, key, _as_list(values)))
    return entries


def describe_conditions(statement: dict) -> str:
    """'Bool aws:SecureTransport = false and StringNotEquals aws:SourceVpce = vpce-1', or 'no condition'."""
    parts = [
        f"{operator} {key} = {', '.join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)}"
        for operator, key, values in condition_entries(statement)
    ]
    return " and ".join(parts) or "no condition"
