"""Property-based tests of the scaling simulator (checkers/_support/scaling.py), beyond the
examples and the two properties in test_support_scaling.py.

- step bounds: validate_steps accepts a set of steps exactly when every breach on the
  alarm's side of the threshold (every bound, and between bounds) falls in exactly one
  step, for alarms above and below their threshold;
- AWS's rounding of PercentChangeInCapacity; capacity always clamped;
- M-of-N alarm evaluation against its definition when every period has data, and a valid
  state with a reason whatever data is missing;
- whatever alarms and policies a learner defines (operators, statistics, periods, actions,
  adjustment types), reading them gives an object or a ScalingError, and replaying them
  never leaves MinSize..MaxSize.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from checkers._support import scaling
from checkers._support.scaling import (
    ABOVE,
    ALARM,
    BELOW,
    INSUFFICIENT,
    OK,
    Alarm,
    Fleet,
    ScalingError,
    Simulator,
    Step,
    StepPolicy,
    evaluate_alarm,
    metric_key,
    new_capacity,
    percent_change,
    validate_steps,
)

bounds = st.one_of(st.none(), st.integers(-300, 300).map(float), st.floats(-1e6, 1e6, allow_nan=False))
steps = st.lists(st.builds(Step, bounds, bounds, st.integers(-20, 20)), min_size=1, max_size=5)


def probe_offsets(step_list, direction):
    """Every bound, a point just inside each side of it, points between bounds, and far out."""
    points = {0.0}
    for step in step_list:
        for bound in (step.lower, step.upper):
            if bound is not None:
                points |= {bound, bound - 1e-3, bound + 1e-3}
    ordered = sorted(points)
    points |= {(a + b) / 2 for a, b in zip(ordered, ordered[1:])}
    points |= {1e9, -1e9}
    return sorted(p for p in points if (p >= 0 if direction == ABOVE else p <= 0))


@settings(max_examples=300, deadline=None)
@given(steps, st.sampled_from([ABOVE, BELOW]))
def test_accepted_steps_cover_every_breach_exactly_once(step_list, direction):
    problems = validate_steps(step_list, direction, threshold=100)
    assert all(isinstance(p, str) and p for p in problems)
    if problems:
        return
    for offset in probe_offsets(step_list, direction):
        assert sum(step.matches(offset, direction) for step in step_list) == 1, (step_list, direction, offset)


@st.composite
def partitions(draw):
    """A sound set of steps: cut points from 0 outwards, the outer step open-ended, in any order."""
    cuts = sorted(set(draw(st.lists(st.integers(1, 1000), max_size=4))))
    direction = draw(st.sampled_from([ABOVE, BELOW]))
    edges = [0.0, *map(float, cuts)]
    adjustments = draw(st.lists(st.integers(-5, 5), min_size=len(edges), max_size=len(edges)))
    if direction == ABOVE:
        made = [Step(low, high, a) for low, high, a in zip(edges, [*edges[1:], None], adjustments)]
    else:
        made = [Step(None if high is None else -high, -low, a)
                for low, high, a in zip(edges, [*edges[1:], None], adjustments)]
    return draw(st.permutations(made)), direction


@settings(max_examples=200, deadline=None)
@given(partitions())
def test_every_sound_set_of_steps_is_accepted(partition):
    step_list, direction = partition
    assert validate_steps(step_list, direction, threshold=100) == []


@given(st.integers(0, 10_000), st.integers(-100, 1_000), st.one_of(st.none(), st.integers(1, 50)))
def test_percent_change_rounds_as_aws_documents(current, percent, magnitude):
    raw = current * percent / 100
    change = percent_change(current, percent, magnitude)
    if raw == 0:
        assert change == 0
        return
    assert math.copysign(1, change) == math.copysign(1, raw)
    assert abs(change) >= max(1, magnitude or 1)
    if abs(raw) >= 1 and not magnitude:
        assert abs(change) == math.floor(abs(raw))  # toward zero


@given(st.sampled_from(scaling.ADJUSTMENT_TYPES), st.integers(-1000, 1000), st.integers(0, 50),
       st.tuples(st.integers(0, 20), st.integers(0, 40)).filter(lambda s: s[0] <= s[1]))
def test_capacity_is_always_clamped(kind, adjustment, current, sizes):
    assert sizes[0] <= scaling.clamp(new_capacity(kind, adjustment, current), *sizes) <= sizes[1]


OPERATORS = list(scaling.OPERATORS)


def make_alarm(operator, threshold, periods, datapoints, treatment, statistic="Average") -> Alarm:
    return Alarm.from_api({
        "AlarmName": "a", "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": "ride-jobs"}], "Statistic": statistic, "Period": 60,
        "EvaluationPeriods": periods, "DatapointsToAlarm": datapoints, "Threshold": threshold,
        "ComparisonOperator": operator, "TreatMissingData": treatment})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(OPERATORS), st.integers(0, 200).map(float), st.integers(1, 5), st.integers(0, 6),
       st.lists(st.lists(st.integers(0, 400).map(float), min_size=1, max_size=3), min_size=1, max_size=8))
def test_m_of_n_with_every_period_present_follows_its_definition(operator, threshold, n, m, periods):
    alarm = make_alarm(operator, threshold, n, m or None, "missing")
    evaluation = evaluate_alarm(alarm, periods)
    window = periods[-n:]
    values = [sum(p) / len(p) for p in window]
    breaching = sum(scaling.OPERATORS[operator][1](v, threshold) for v in values)
    missing = n - len(window)  # periods before the first are missing
    needed = min(max(1, m or n), n)
    if missing == 0:
        assert evaluation.state == (ALARM if breaching >= needed else OK), (values, needed)
    assert evaluation.state in (ALARM, OK, INSUFFICIENT) and evaluation.reason


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(OPERATORS), st.integers(0, 200).map(float), st.integers(1, 5), st.integers(0, 6),
       st.sampled_from(["missing", "ignore", "breaching", "notBreaching"]),
       st.lists(st.one_of(st.none(), st.just([]), st.lists(st.integers(0, 400).map(float), min_size=1, max_size=3)),
                max_size=8),
       st.sampled_from([OK, ALARM, INSUFFICIENT]))
def test_any_window_gives_a_state_and_more_breaching_never_clears_an_alarm(operator, threshold, n, m, treatment,
                                                                          periods, previous):
    alarm = make_alarm(operator, threshold, n, m or None, treatment)
    evaluation = evaluate_alarm(alarm, periods, previous)
    assert evaluation.state in (ALARM, OK, INSUFFICIENT) and evaluation.reason
    # Turn one present, non-breaching period into a breaching one: an ALARM stays ALARM.
    worst = -1e6 if scaling.OPERATORS[operator][0] == BELOW else 1e6
    for index, samples in enumerate(periods):
        if samples and evaluation.state == ALARM:
            worse = [*periods[:index], [worst], *periods[index + 1:]]
            assert evaluate_alarm(alarm, worse, previous).state == ALARM


api_alarms = st.fixed_dictionaries({
    "AlarmName": st.text(max_size=10),
    "Namespace": st.sampled_from(["AWS/SQS", "RideWorkers", ""]),
    "MetricName": st.sampled_from(["ApproximateNumberOfMessagesVisible", "BacklogPerInstance"]),
    "Dimensions": st.lists(st.fixed_dictionaries({"Name": st.sampled_from(["QueueName", "AutoScalingGroupName"]),
                                                  "Value": st.text(max_size=8)}), max_size=2),
    "Period": st.sampled_from([10, 60, 300]),
    "EvaluationPeriods": st.integers(1, 5),
    "Threshold": st.floats(-1e6, 1e6, allow_nan=False),
    "ComparisonOperator": st.sampled_from(OPERATORS + ["LessThanLowerOrGreaterThanUpperThreshold",
                                                       "GreaterThanUpperThreshold"]),
    "ActionsEnabled": st.booleans(),
    "AlarmActions": st.lists(st.sampled_from(["out", "in", "arn:aws:sns:us-east-1:1:topic"]), max_size=2),
    "OKActions": st.lists(st.sampled_from(["out", "in"]), max_size=1),
}, optional={
    "Statistic": st.sampled_from(["Average", "Sum", "Minimum", "Maximum", "SampleCount"]),
    "ExtendedStatistic": st.sampled_from(["p90", "p99.9", "p100", "p0", "tm99", "pabc", "p101"]),
    "DatapointsToAlarm": st.integers(1, 6),
    "TreatMissingData": st.sampled_from(["missing", "ignore", "breaching", "notBreaching"]),
    "Metrics": st.just([{"Id": "m1", "Expression": "a+b"}]),
})

api_policies = st.fixed_dictionaries({
    "PolicyName": st.sampled_from(["out", "in"]),
    "PolicyType": st.sampled_from(["StepScaling", "SimpleScaling", "TargetTrackingScaling"]),
    "AdjustmentType": st.sampled_from(["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]),
}, optional={
    "StepAdjustments": st.lists(st.fixed_dictionaries({"ScalingAdjustment": st.integers(-10, 10)}, optional={
        "MetricIntervalLowerBound": st.floats(-500, 500, allow_nan=False),
        "MetricIntervalUpperBound": st.floats(-500, 500, allow_nan=False)}), max_size=3),
    "ScalingAdjustment": st.integers(-10, 10),
    "MinAdjustmentMagnitude": st.integers(1, 5),
    "Enabled": st.booleans(),
})


@settings(max_examples=300, deadline=None)
@given(st.lists(api_alarms, max_size=3), st.lists(api_policies, max_size=2, unique_by=lambda p: p["PolicyName"]),
       st.tuples(st.integers(0, 5), st.integers(0, 15)).filter(lambda s: s[0] <= s[1]),
       st.lists(st.integers(0, 5000), min_size=1, max_size=10))
def test_whatever_a_learner_defines_the_replay_gives_a_verdict_inside_the_group_sizes(raw_alarms, raw_policies,
                                                                                     sizes, depths):
    alarms = []
    for raw in raw_alarms:
        try:
            alarms.append(Alarm.from_api(raw))
        except ScalingError as problem:
            assert str(problem)
    policies = {p["PolicyName"]: StepPolicy.from_api({**p, "PolicyARN": p["PolicyName"]}) for p in raw_policies}
    simulator = Simulator(alarms, policies, Fleet(sizes[0], sizes[1], sizes[0]))

    def source(fleet):
        return {metric_key("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "ride-jobs"}): depth,
                metric_key("RideWorkers", "BacklogPerInstance", {}): depth / max(fleet.desired, 1)}

    for depth in depths:
        tick = simulator.tick(source)
        assert sizes[0] <= tick.desired <= sizes[1]
        for firing in tick.firings:
            assert sizes[0] <= firing.after <= sizes[1] and firing.describe()
        tick.describe_alarms()
