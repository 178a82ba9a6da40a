"""The scaling simulator, specified: alarm evaluation, step scaling maths, step-bound
validation and the tick loop, as CloudWatch and EC2 Auto Scaling document them."""

from __future__ import annotations

import math

import pytest
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
    clamp,
    evaluate_alarm,
    metric_key,
    new_capacity,
    select_step,
    validate_steps,
)

QUEUE_DIMS = [{"Name": "QueueName", "Value": "ride-jobs"}]
OUT_ARN = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:autoScalingGroupName/g:policyName/scale-out"
IN_ARN = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:2:autoScalingGroupName/g:policyName/scale-in"


def alarm(**changes) -> Alarm:
    data = {"AlarmName": "high", "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": QUEUE_DIMS, "Statistic": "Average", "Period": 60, "EvaluationPeriods": 1,
            "Threshold": 100.0, "ComparisonOperator": "GreaterThanThreshold", "ActionsEnabled": True,
            "AlarmActions": [OUT_ARN]}
    data.update(changes)
    return Alarm.from_api(data)


def low_alarm(**changes) -> Alarm:
    return alarm(**{"AlarmName": "low", "Threshold": 50.0, "ComparisonOperator": "LessThanThreshold",
                    "AlarmActions": [IN_ARN], **changes})


def policy(arn=OUT_ARN, name="scale-out", steps=None, **changes) -> StepPolicy:
    data = {"PolicyName": name, "PolicyARN": arn, "PolicyType": "StepScaling", "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": steps if steps is not None else [
                {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 400.0, "ScalingAdjustment": 2},
                {"MetricIntervalLowerBound": 400.0, "ScalingAdjustment": 5}]}
    data.update(changes)
    return StepPolicy.from_api(data)


def scale_in(**changes) -> StepPolicy:
    return policy(IN_ARN, "scale-in", [{"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -1}], **changes)


def depth(n: float):
    key = metric_key("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "ride-jobs"})
    return lambda fleet: {key: n}


# -- alarms -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("operator", "results"), [
    ("GreaterThanThreshold", (False, False, True)),
    ("GreaterThanOrEqualToThreshold", (False, True, True)),
    ("LessThanThreshold", (True, False, False)),
    ("LessThanOrEqualToThreshold", (True, True, False)),
])
def test_comparison_operators_at_and_around_the_threshold(operator, results):
    assert tuple(scaling.compare(v, 100, operator) for v in (99, 100, 101)) == results


def test_an_anomaly_band_operator_is_refused_with_the_operators_it_knows():
    with pytest.raises(ScalingError, match="GreaterThanThreshold"):
        scaling.compare(1, 0, "LessThanLowerOrGreaterThanUpperThreshold")


@pytest.mark.parametrize(("statistic", "value"), [
    ("Average", 20.0), ("Sum", 60.0), ("Minimum", 10.0), ("Maximum", 30.0), ("SampleCount", 3.0), ("p50", 20.0),
    ("p100", 30.0),
])
def test_statistics_over_one_period(statistic, value):
    assert scaling.aggregate([10, 30, 20], statistic) == value


def test_an_unknown_statistic_is_refused():
    with pytest.raises(ScalingError, match="statistic Median"):
        scaling.aggregate([1], "Median")


def test_alarm_from_describe_alarms_keeps_what_evaluation_needs():
    a = alarm(DatapointsToAlarm=2, EvaluationPeriods=3, TreatMissingData="breaching")
    assert a.key == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", "ride-jobs"),))
    assert (a.direction, a.symbol, a.datapoints_needed, a.treat_missing_data) == (ABOVE, ">", 2, "breaching")
    assert a.actions_for(ALARM) == (OUT_ARN,)
    assert "ApproximateNumberOfMessagesVisible Average > 100" in a.describe()


def test_metric_math_alarms_and_odd_operators_are_refused_by_name():
    with pytest.raises(ScalingError, match="alarm high uses metric math"):
        alarm(Metrics=[{"Id": "m1"}])
    with pytest.raises(ScalingError, match="alarm high uses ComparisonOperator LessThanLowerThreshold"):
        alarm(ComparisonOperator="LessThanLowerThreshold")


def test_disabled_actions_invoke_nothing():
    assert alarm(ActionsEnabled=False).actions_for(ALARM) == ()


def test_one_period_alarm_follows_the_newest_datapoint():
    a = alarm()
    assert evaluate_alarm(a, [[150]]).state == ALARM
    evaluation = evaluate_alarm(a, [[150], [100]])
    assert (evaluation.state, evaluation.value) == (OK, 100)
    assert evaluation.reason == "Average 100 does not breach > 100"


def test_m_of_n_needs_enough_breaching_periods():
    a = alarm(EvaluationPeriods=3, DatapointsToAlarm=2)
    assert evaluate_alarm(a, [[0], [0], [150]]).state == OK
    ok_then_alarm = evaluate_alarm(a, [[150], [0], [150]])
    assert ok_then_alarm.state == ALARM
    assert "2 of 3 datapoints breach > 100 (needs 2" in ok_then_alarm.reason


def test_fewer_periods_than_evaluation_periods_count_as_missing():
    a = alarm(EvaluationPeriods=3)
    assert evaluate_alarm(a, [[150]]).state == OK  # 1 of 3 breach, 3 needed
    assert evaluate_alarm(alarm(EvaluationPeriods=3, TreatMissingData="breaching"), [[150]]).state == ALARM


@pytest.mark.parametrize(("treatment", "previous", "state"), [
    ("missing", ALARM, INSUFFICIENT),
    ("ignore", ALARM, ALARM),
    ("breaching", OK, ALARM),
    ("notBreaching", ALARM, OK),
])
def test_missing_data_treatments(treatment, previous, state):
    assert evaluate_alarm(alarm(TreatMissingData=treatment), [None], previous).state == state


# -- step scaling maths ---------------------------------------------------------------------------
def test_above_the_threshold_lower_bounds_include_and_upper_bounds_exclude():
    steps = policy().steps
    assert [select_step(steps, offset, ABOVE).adjustment for offset in (0, 399.9, 400, 10_000)] == [2, 2, 5, 5]
    assert select_step(steps, -1, ABOVE) is None


def test_below_the_threshold_lower_bounds_exclude_and_upper_bounds_include():
    steps = (Step(-20, 0, -1), Step(None, -20, -3))
    assert [select_step(steps, offset, BELOW).adjustment for offset in (0, -19, -20, -1000)] == [-1, -1, -3, -3]
    assert select_step(steps, 0.5, BELOW) is None


@pytest.mark.parametrize(("kind", "adjustment", "current", "magnitude", "wanted"), [
    ("ChangeInCapacity", 2, 1, None, 3),
    ("ChangeInCapacity", -1, 4, None, 3),
    ("ExactCapacity", 6, 2, None, 6),
    ("PercentChangeInCapacity", 50, 3, None, 4),  # 1.5 rounds down to 1
    ("PercentChangeInCapacity", 50, 1, None, 2),  # 0.5 rounds up to 1
    ("PercentChangeInCapacity", -50, 1, None, 0),  # -0.5 rounds to -1
    ("PercentChangeInCapacity", -50, 3, None, 2),  # -1.5 rounds up to -1
    ("PercentChangeInCapacity", 200, 4, None, 12),
    ("PercentChangeInCapacity", 25, 4, 2, 6),  # +1, raised to MinAdjustmentMagnitude 2
    ("PercentChangeInCapacity", 0, 4, 2, 4),
])
def test_new_capacity_follows_aws_rounding(kind, adjustment, current, magnitude, wanted):
    assert new_capacity(kind, adjustment, current, magnitude) == wanted


def test_an_unknown_adjustment_type_is_refused():
    with pytest.raises(ScalingError, match="AdjustmentType Double"):
        new_capacity("Double", 2, 1)


def test_capacity_is_clamped_to_min_and_max():
    assert [clamp(c, 1, 10) for c in (-3, 0, 1, 7, 10, 13)] == [1, 1, 1, 7, 10, 10]


def test_a_fleet_with_min_above_max_is_refused():
    with pytest.raises(ScalingError, match="MinSize 5 is above MaxSize 2"):
        Fleet(5, 2, 3)


# -- step bound validation -----------------------------------------------------------------------
def test_the_lab_steps_are_sound():
    assert validate_steps(policy().steps, ABOVE, 100) == []
    assert validate_steps(scale_in().steps, BELOW, 50) == []
    assert validate_steps((Step(None, 400, 2), Step(400, None, 5)), ABOVE, 100) == []  # -inf covers 0..400 too


def test_overlapping_steps_name_the_overlap_in_messages():
    problems = validate_steps((Step(0, 500, 2), Step(400, None, 5)), ABOVE, 100)
    assert problems == ["step 1 ([0, 500) +2) and step 2 ([400, +∞) +5) overlap from 400 to 500 above the "
                        "threshold (500–600 messages): AWS rejects overlapping steps, since a breach there would "
                        "match both"]


def test_a_step_inside_another_is_an_overlap_not_a_gap():
    problems = validate_steps((Step(0, 1000, 2), Step(100, 200, 3), Step(1000, None, 5)), ABOVE, 100)
    assert len(problems) == 1
    assert "step 1 ([0, 1000) +2) and step 2 ([100, 200) +3) overlap from 100 to 200" in problems[0]


def test_a_gap_between_steps_is_named():
    problems = validate_steps((Step(0, 300, 2), Step(400, None, 5)), ABOVE, 100)
    assert len(problems) == 1
    assert "gap between step 1 ([0, 300) +2) and step 2 ([400, +∞) +5)" in problems[0]
    assert "300 to 400 above the threshold (400–500 messages)" in problems[0]


def test_steps_written_as_message_counts_leave_a_gap_from_the_threshold():
    problems = validate_steps((Step(100, 500, 2), Step(500, None, 5)), ABOVE, 100)
    assert problems == ["the lowest step starts 100 above the threshold: a breach of 0 to 100 above the threshold "
                        "(100–200 messages) matches no step; set the first step's MetricIntervalLowerBound to 0"]


def test_a_missing_open_ended_step_is_named():
    problems = validate_steps((Step(0, 400, 2), Step(400, 900, 5)), ABOVE, 100)
    assert problems == ["the highest step stops at 900 above the threshold (1000 messages): AWS requires the "
                        "highest step to be open-ended (leave out its MetricIntervalUpperBound) so every larger "
                        "breach is covered"]


def test_scale_in_steps_must_reach_the_threshold_and_be_open_below():
    assert "set the last step's MetricIntervalUpperBound to 0" in validate_steps((Step(None, -10, -1),), BELOW, 50)[0]
    assert "lowest step to be open-ended" in validate_steps((Step(-50, 0, -1),), BELOW, 50)[0]
    wrong_side = validate_steps((Step(0, None, -1),), BELOW, 50)
    assert "lies entirely above the threshold" in wrong_side[0]
    assert "no step covers a breach below the threshold" in wrong_side[-1]


def test_malformed_steps_are_named():
    assert "neither MetricIntervalLowerBound nor MetricIntervalUpperBound" in validate_steps((Step(None, None, 1),),
                                                                                            ABOVE)[0]
    assert "lower bound at or above its upper bound" in validate_steps((Step(5, 5, 1),), ABOVE)[0]
    assert validate_steps((), ABOVE) == ["it has no step adjustments; a step policy needs at least one"]
    assert "lies entirely below the threshold" in validate_steps((Step(None, 0, 2),), ABOVE)[0]


# -- the simulator ----------------------------------------------------------------------------------
def lab_simulator(high=None, low=None, policies=None, fleet=None) -> Simulator:
    policies = policies or [policy(), scale_in()]
    return Simulator([high or alarm(), low or low_alarm()], {p.arn: p for p in policies}, fleet or Fleet(1, 10, 1))


def run(simulator: Simulator, depths) -> list[int]:
    return [simulator.tick(depth(d)).desired for d in depths]


def test_the_lab_scenario_scales_out_caps_holds_and_drains():
    simulator = lab_simulator()
    assert run(simulator, [150, 600, 600, 75, 75]) == [3, 8, 10, 10, 10]
    assert run(simulator, [0] * 11) == [9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1]
    capped = simulator.ticks[2].firings[0]
    assert capped.describe() == ("high (ALARM) invoked scale-out: +5 from step [400, +∞) +5, capped at MaxSize 10 "
                                 "(asked 13), desired 8 → 10")
    assert "held at MinSize 1 (asked 0)" in simulator.ticks[-1].firings[0].note


def test_scale_in_wired_to_the_high_alarm_shrinks_on_a_flood():
    simulator = lab_simulator(high=alarm(AlarmActions=[IN_ARN]))
    tick = simulator.tick(depth(150))
    assert tick.desired == 1
    assert tick.firings[0].describe() == ("high (ALARM) invoked scale-in: no step covers 150 (50 from the threshold "
                                          "100), desired stays 1")


def test_a_reversed_operator_fires_on_an_empty_queue_not_on_a_flood():
    simulator = lab_simulator(high=alarm(ComparisonOperator="LessThanThreshold"))
    assert run(simulator, [150]) == [1]
    assert simulator.ticks[0].evaluations["high"].reason == "Average 150 does not breach < 100"


def test_an_alarm_on_a_metric_without_data_never_fires():
    simulator = lab_simulator(high=alarm(MetricName="ApproximateNumberOfMessagesNotVisible"))
    tick = simulator.tick(depth(600))
    assert (tick.desired, tick.evaluations["high"].state) == (1, INSUFFICIENT)


def test_actions_that_are_not_the_groups_policies_are_ignored_and_reported():
    topic = "arn:aws:sns:us-east-1:000000000000:ops"
    tick = lab_simulator(high=alarm(AlarmActions=[topic, OUT_ARN])).tick(depth(150))
    assert tick.desired == 3
    assert tick.ignored == [f"high → {topic}"]


def test_ok_actions_repeat_every_period_like_alarm_actions():
    simulator = lab_simulator(high=alarm(AlarmActions=[], OKActions=[IN_ARN]), fleet=Fleet(1, 10, 5))
    assert run(simulator, [0, 0, 600]) == [3, 1, 1]  # high OK and low ALARM both invoke scale-in


def test_an_alarm_with_three_evaluation_periods_fires_on_the_third_tick():
    simulator = lab_simulator(high=alarm(EvaluationPeriods=3))
    assert run(simulator, [150, 150, 150, 150]) == [1, 1, 3, 5]


def test_a_disabled_policy_and_other_policy_types_change_nothing():
    disabled = lab_simulator(policies=[policy(Enabled=False), scale_in()])
    assert disabled.tick(depth(150)).firings[0].note == "the policy is disabled"
    tracking = lab_simulator(policies=[policy(PolicyType="TargetTrackingScaling"), scale_in()])
    assert "manage their own alarms" in tracking.tick(depth(150)).firings[0].note
    simple = lab_simulator(policies=[policy(PolicyType="SimpleScaling", ScalingAdjustment=4), scale_in()])
    assert simple.tick(depth(150)).desired == 5


def test_percent_policies_use_min_adjustment_magnitude():
    percent = policy(AdjustmentType="PercentChangeInCapacity", MinAdjustmentMagnitude=2,
                     steps=[{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 10}])
    assert run(lab_simulator(policies=[percent, scale_in()]), [150, 150]) == [3, 5]


def test_hold_stops_when_told_and_a_quiet_tick_can_skip_actions():
    simulator = lab_simulator()
    assert simulator.tick(depth(0), act=False).firings == []
    ticks = simulator.hold(depth(600), 5, until=lambda tick: tick.desired == 10)
    assert [t.desired for t in ticks] == [6, 10]


steps_strategy = st.lists(
    st.builds(Step, st.one_of(st.none(), st.integers(-500, 500).map(float)),
              st.one_of(st.none(), st.integers(-500, 500).map(float)), st.integers(-10, 10)),
    min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(steps=steps_strategy, kind=st.sampled_from(scaling.ADJUSTMENT_TYPES), depths=st.lists(st.integers(0, 2000), max_size=12),
       sizes=st.tuples(st.integers(0, 5), st.integers(0, 20)).filter(lambda s: s[0] <= s[1]))
def test_the_fleet_never_leaves_min_and_max(steps, kind, depths, sizes):
    out = StepPolicy("out", OUT_ARN, "StepScaling", kind, tuple(steps))
    simulator = Simulator([alarm(), low_alarm()], {OUT_ARN: out, IN_ARN: scale_in()}, Fleet(sizes[0], sizes[1], 0))
    for d in depths:
        assert sizes[0] <= simulator.tick(depth(d)).desired <= sizes[1]


@settings(max_examples=200, deadline=None)
@given(steps=steps_strategy)
def test_sound_steps_give_every_breach_exactly_one_step(steps):
    if validate_steps(steps, ABOVE, 100):
        return
    for offset in (0, 0.5, 1, 99, 250, 400, 499.5, 10_000):
        assert sum(step.matches(offset, ABOVE) for step in steps) == 1, (steps, offset)
    assert not math.isinf(select_step(steps, 1e9, ABOVE).adjustment)
