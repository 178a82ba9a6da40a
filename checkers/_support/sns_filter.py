"""Judge an SNS filter policy over many fares, not just the probe rides.

The probes show what the emulator really delivers, but only at a few fares; a
policy such as ">= 50 and < 60, or >= 70" passes every probe and still drops a
fare of 65. Here the policy is evaluated at every boundary it names (and just
either side), with moto's SNS filter matcher: a maintained implementation
already in our dependencies, rather than one of our own.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from moto.sns.utils import FilterPolicyMatcher

EPSILON = 0.01


def boundary_values(policy_text: str, extra: tuple[float, ...]) -> list[float]:
    """Every number the policy mentions, a cent either side of it, and `extra`."""
    numbers = {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", policy_text)}
    values = set(extra)
    for number in numbers:
        values.update((number - EPSILON, number, number + EPSILON))
    return sorted(v for v in values if v >= 0)


def mismatches(policy_text: str, scope: str | None, make_ride: Callable[[float], dict],
               should_match: Callable[[float], bool], extra: tuple[float, ...]) -> list[tuple[float, bool]]:
    """[(fare, matched)] where the policy disagrees with `should_match`; [] when it cannot be judged."""
    try:
        matcher = FilterPolicyMatcher(json.loads(policy_text), scope)
    except (ValueError, FilterPolicyMatcher.CheckException):
        return []
    wrong = []
    for fare in boundary_values(policy_text, extra):
        ride = make_ride(fare)
        attributes = {
            "fare": {"Type": "Number", "Value": str(fare)},
            "distanceKm": {"Type": "Number", "Value": str(ride["distanceKm"])},
            "rideType": {"Type": "String", "Value": ride["rideType"]},
        }
        try:
            matched = matcher.matches(attributes, json.dumps(ride))
        except Exception:  # noqa: BLE001 - an operator moto cannot evaluate: leave it to the probes
            return []
        if matched != should_match(fare):
            wrong.append((fare, matched))
    return wrong
