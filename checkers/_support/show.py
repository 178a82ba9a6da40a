"""Values in check messages as AWS shows them, never as Python does.

A learner reads `null`, `true`, `{"fare": [...]}` and `Project=rides` in the AWS CLI's
output and the console; `None`, `True`, `{'fare': [...]}` and `Decimal('13.85')` are our
implementation leaking into their feedback.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Iterable, Mapping


def value(item: Any) -> str:
    """One value as the AWS CLI prints it: JSON (null, true, "text" only inside structures),
    numbers as written, strings bare."""
    if isinstance(item, str):
        return item
    if isinstance(item, Decimal):
        return format(item, "f")  # 24.50 stays 24.50, 2E+1 becomes 20
    return json.dumps(item, default=_jsonable, ensure_ascii=False, separators=(", ", ": "))


def quoted(item: Any) -> str:
    """A value with strings quoted, for when the type is the point (`"13.85"`, a string, vs 13.85)."""
    return json.dumps(item, default=_jsonable, ensure_ascii=False) if isinstance(item, str) else value(item)


def tags(mapping: Mapping[str, str] | Iterable[dict] | None) -> str:
    """`Project=rides, Team=ops` (or `no tags`), from a dict or from AWS's [{"Key", "Value"}] list."""
    if mapping is None:
        return "no tags"
    if not isinstance(mapping, Mapping):
        mapping = {tag["Key"]: tag.get("Value", "") for tag in mapping}
    return ", ".join(f"{key}={val}" for key, val in mapping.items()) or "no tags"


def listing(values: Iterable[Any], limit: int = 3, empty: str = "none") -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c and 4 more'."""
    shown = [value(v) for v in values]
    if not shown:
        return empty
    if len(shown) > limit:
        return f"{', '.join(shown[:limit])} and {len(shown) - limit} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _jsonable(item: Any) -> Any:
    if isinstance(item, Decimal):
        return int(item) if item == item.to_integral_value() else float(item)
    if isinstance(item, (set, frozenset, tuple)):
        return sorted(item, key=str) if isinstance(item, (set, frozenset)) else list(item)
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    return str(item)
