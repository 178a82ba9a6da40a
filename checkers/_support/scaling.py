"""The scaling simulator: what CloudWatch and EC2 Auto Scaling would do with a backlog.

No emulator publishes ``AWS/SQS`` metrics or turns an alarm into a scaling
action (see emulators.md: moto never fires alarm actions and answers 500 to
ExecutePolicy on a step policy; ministack evaluates alarms but never calls
Auto Scaling; LocalStack community has no Auto Scaling at all). Checks replay
that loop here instead, from the learner's real alarm and policy definitions
as read from the emulator:

- :func:`evaluate_alarm`: a metric alarm over a run of periods (statistic,
  ComparisonOperator, Threshold, EvaluationPeriods, DatapointsToAlarm and
  TreatMissingData), as CloudWatch documents it;
- :func:`select_step` / :func:`new_capacity`: step scaling maths (step bounds
  are offsets from the alarm threshold; ChangeInCapacity, ExactCapacity and
  PercentChangeInCapacity with AWS's rounding and MinAdjustmentMagnitude),
  clamped to MinSize/MaxSize;
- :func:`validate_steps`: the rules AWS applies to step bounds (no overlap,
  no gap, an open-ended outer step), with messages that name the range;
- :class:`Simulator`: one tick is one evaluation period. Every alarm gets a
  datapoint from a metric source (e.g. the queue depth read from SQS), and an
  alarm whose state has actions invokes them once per tick it stays in that
  state, which is what CloudWatch does for Auto Scaling actions. The result
  goes to a :class:`Fleet` record (min, max, desired).

Deliberate simplifications, stated so messages never over-claim: one tick is
one period for every alarm whatever its Period; a step policy sees the
alarm's latest datapoint (MetricAggregationType is not replayed over the
window); cooldowns and instance warm-up are not simulated (every instance is
counted as soon as it is desired).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

ABOVE, BELOW = "above", "below"
OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"

OPERATORS: dict[str, tuple[str, Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (ABOVE, lambda v, t: v > t, ">"),
    "GreaterThanOrEqualToThreshold": (ABOVE, lambda v, t: v >= t, ">="),
    "LessThanThreshold": (BELOW, lambda v, t: v < t, "<"),
    "LessThanOrEqualToThreshold": (BELOW, lambda v, t: v <= t, "<="),
}
STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
ADJUSTMENT_TYPES = ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")

MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]


class ScalingError(ValueError):
    """A definition the simulator cannot evaluate; the message says which and why."""


def metric_key(namespace: str, metric_name: str, dimensions: Mapping[str, str] | Iterable) -> MetricKey:
    """A hashable name for one metric series: namespace, name and sorted dimensions."""
    if isinstance(dimensions, Mapping):
        pairs = dimensions.items()
    else:
        pairs = ((d["Name"], d["Value"]) if isinstance(d, Mapping) else tuple(d) for d in dimensions)
    return (namespace, metric_name, tuple(sorted((str(k), str(v)) for k, v in pairs)))


def describe_key(key: MetricKey) -> str:
    namespace, name, dims = key
    where = ", ".join(f"{k}={v}" for k, v in dims) or "no dimensions"
    return f"{namespace} {name} ({where})"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and math.isfinite(value) else str(value)


# -- alarms ---------------------------------------------------------------------------
def compare(value: float, threshold: float, operator: str) -> bool:
    """True when `value` breaches `threshold` under a ComparisonOperator."""
    if operator not in OPERATORS:
        raise ScalingError(f"ComparisonOperator {operator} is not one a static-threshold alarm uses "
                           f"(expected one of {', '.join(OPERATORS)})")
    return OPERATORS[operator][1](value, threshold)


def aggregate(samples: Sequence[float], statistic: str) -> float:
    """One period's statistic over its samples (pNN is a nearest-rank percentile)."""
    if not samples:
        raise ValueError("a period without samples has no statistic")
    if statistic == "Average":
        return sum(samples) / len(samples)
    if statistic == "Sum":
        return float(sum(samples))
    if statistic == "Minimum":
        return float(min(samples))
    if statistic == "Maximum":
        return float(max(samples))
    if statistic == "SampleCount":
        return float(len(samples))
    if statistic.startswith("p"):
        try:
            percent = float(statistic[1:])
        except ValueError:
            percent = -1
        if 0 <= percent <= 100:
            ordered = sorted(samples)
            rank = max(1, math.ceil(percent / 100 * len(ordered)))
            return float(ordered[rank - 1])
    raise ScalingError(f"statistic {statistic} is not one CloudWatch alarms use "
                       f"({', '.join(STATISTICS)} or a percentile such as p90)")


@dataclass(frozen=True)
class Alarm:
    name: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    actions_enabled: bool = True
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping) -> "Alarm":
        """From a describe_alarms MetricAlarms entry."""
        name = data.get("AlarmName", "?")
        if data.get("Metrics"):
            raise ScalingError(f"alarm {name} uses metric math (Metrics); the simulator replays single-metric alarms")
        operator = data.get("ComparisonOperator", "")
        if operator not in OPERATORS:
            raise ScalingError(f"alarm {name} uses ComparisonOperator {operator or '(none)'}; "
                               f"expected one of {', '.join(OPERATORS)}")
        statistic = data.get("Statistic") or data.get("ExtendedStatistic") or ""
        aggregate([1.0], statistic)  # raises ScalingError for an unknown statistic
        return cls(
            name=name,
            namespace=data.get("Namespace", ""),
            metric_name=data.get("MetricName", ""),
            dimensions=metric_key("", "", data.get("Dimensions") or [])[2],
            statistic=statistic,
            period=int(data.get("Period") or 60),
            evaluation_periods=max(1, int(data.get("EvaluationPeriods") or 1)),
            threshold=float(data.get("Threshold", 0.0)),
            comparison=operator,
            datapoints_to_alarm=int(data["DatapointsToAlarm"]) if data.get("DatapointsToAlarm") else None,
            treat_missing_data=data.get("TreatMissingData") or "missing",
            actions_enabled=bool(data.get("ActionsEnabled", True)),
            alarm_actions=tuple(data.get("AlarmActions") or ()),
            ok_actions=tuple(data.get("OKActions") or ()),
            insufficient_data_actions=tuple(data.get("InsufficientDataActions") or ()),
        )

    @property
    def key(self) -> MetricKey:
        return (self.namespace, self.metric_name, self.dimensions)

    @property
    def direction(self) -> str:
        return OPERATORS[self.comparison][0]

    @property
    def symbol(self) -> str:
        return OPERATORS[self.comparison][2]

    @property
    def datapoints_needed(self) -> int:
        needed = self.datapoints_to_alarm or self.evaluation_periods
        return min(max(1, needed), self.evaluation_periods)

    def actions_for(self, state: str) -> tuple[str, ...]:
        if not self.actions_enabled:
            return ()
        return {ALARM: self.alarm_actions, OK: self.ok_actions, INSUFFICIENT: self.insufficient_data_actions}[state]

    def describe(self) -> str:
        m, n = self.datapoints_needed, self.evaluation_periods
        return (f"{self.metric_name} {self.statistic} {self.symbol} {_number(self.threshold)} "
                f"on {describe_key(self.key)}, {m} of {n} period(s) of {self.period} s")


@dataclass(frozen=True)
class AlarmEvaluation:
    state: str
    value: float | None  # the newest period's statistic, if that period had data
    breaching: int  # breaching datapoints in the evaluation window
    reason: str


def evaluate_alarm(alarm: Alarm, periods: Sequence[Sequence[float] | None],
                   previous: str = INSUFFICIENT) -> AlarmEvaluation:
    """The alarm's state after the newest of `periods` (oldest first; None or [] = no data).

    M of N: ALARM when at least DatapointsToAlarm (default EvaluationPeriods) of the
    last EvaluationPeriods periods breach. Missing periods follow TreatMissingData:
    `missing` (default) and `ignore` judge on the datapoints present, `breaching` and
    `notBreaching` count them as such. With no datapoint at all, `missing` gives
    INSUFFICIENT_DATA and `ignore` keeps the previous state.
    """
    n = alarm.evaluation_periods
    window = list(periods[-n:])
    window = [None] * (n - len(window)) + window
    values = [aggregate(samples, alarm.statistic) if samples else None for samples in window]
    present = [v for v in values if v is not None]
    breaching = sum(compare(v, alarm.threshold, alarm.comparison) for v in present)
    missing = n - len(present)
    treatment = alarm.treat_missing_data
    if treatment == "breaching":
        breaching += missing
    newest = values[-1]
    shown = f"{alarm.statistic} {_number(newest)}" if newest is not None else "no datapoint"
    if not present and treatment in ("missing", "ignore"):
        state = previous if treatment == "ignore" else INSUFFICIENT
        return AlarmEvaluation(state, None, 0, f"no datapoints in the last {n} period(s)")
    needed = alarm.datapoints_needed
    state = ALARM if breaching >= needed else OK
    verb = "breaches" if state == ALARM else "does not breach"
    if n == 1:
        reason = f"{shown} {verb} {alarm.symbol} {_number(alarm.threshold)}"
    else:
        reason = f"{breaching} of {n} datapoints breach {alarm.symbol} {_number(alarm.threshold)} (needs {needed}; newest {shown})"
    return AlarmEvaluation(state, newest, breaching, reason)


# -- step scaling -----------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    lower: float | None
    upper: float | None
    adjustment: int

    @classmethod
    def from_api(cls, data: Mapping) -> "Step":
        lower, upper = data.get("MetricIntervalLowerBound"), data.get("MetricIntervalUpperBound")
        return cls(None if lower is None else float(lower), None if upper is None else float(upper),
                   int(data.get("ScalingAdjustment", 0)))

    @property
    def low(self) -> float:
        return -math.inf if self.lower is None else self.lower

    @property
    def high(self) -> float:
        return math.inf if self.upper is None else self.upper

    def matches(self, offset: float, direction: str) -> bool:
        """Above the threshold the lower bound is inclusive, the upper exclusive; below, the reverse."""
        if direction == ABOVE:
            return self.low <= offset < self.high
        return self.low < offset <= self.high

    def describe(self, direction: str | None = None) -> str:
        """`[0, 400) +2` above a threshold, `(-∞, 0] -1` below it (AWS's inclusive ends)."""
        low = "-∞" if self.lower is None else _number(self.lower)
        high = "+∞" if self.upper is None else _number(self.upper)
        opening, closing = ("(", "]") if direction == BELOW else ("[", ")") if direction == ABOVE else ("", "")
        interval = f"{opening}{low}, {high}{closing}" if opening else f"{low} to {high}"
        return f"{interval} {self.adjustment:+d}"


@dataclass(frozen=True)
class StepPolicy:
    name: str
    arn: str
    policy_type: str
    adjustment_type: str
    steps: tuple[Step, ...] = ()
    scaling_adjustment: int | None = None  # SimpleScaling
    min_adjustment_magnitude: int | None = None
    enabled: bool = True

    @classmethod
    def from_api(cls, data: Mapping) -> "StepPolicy":
        """From a describe_policies ScalingPolicies entry."""
        magnitude = data.get("MinAdjustmentMagnitude")
        return cls(
            name=data.get("PolicyName", "?"),
            arn=data.get("PolicyARN", ""),
            policy_type=data.get("PolicyType") or "SimpleScaling",
            adjustment_type=data.get("AdjustmentType") or "ChangeInCapacity",
            steps=tuple(Step.from_api(s) for s in data.get("StepAdjustments") or ()),
            scaling_adjustment=data.get("ScalingAdjustment"),
            min_adjustment_magnitude=int(magnitude) if magnitude else None,
            enabled=bool(data.get("Enabled", True)),
        )


def select_step(steps: Iterable[Step], offset: float, direction: str) -> Step | None:
    """The step whose interval holds `offset` (metric value minus alarm threshold)."""
    return next((step for step in steps if step.matches(offset, direction)), None)


def percent_change(current: int, percent: float, min_adjustment_magnitude: int | None = None) -> int:
    """AWS's rounding for PercentChangeInCapacity: toward zero, but never below a magnitude of 1;
    then at least MinAdjustmentMagnitude."""
    raw = current * percent / 100
    if raw == 0:
        return 0
    change = int(raw)  # truncates toward zero
    if change == 0:
        change = 1 if raw > 0 else -1
    if min_adjustment_magnitude and abs(change) < min_adjustment_magnitude:
        change = min_adjustment_magnitude if change > 0 else -min_adjustment_magnitude
    return change


def new_capacity(adjustment_type: str, adjustment: float, current: int,
                 min_adjustment_magnitude: int | None = None) -> int:
    """The desired capacity an adjustment asks for, before clamping to MinSize/MaxSize."""
    if adjustment_type == "ChangeInCapacity":
        return current + int(adjustment)
    if adjustment_type == "ExactCapacity":
        return int(adjustment)
    if adjustment_type == "PercentChangeInCapacity":
        return current + percent_change(current, adjustment, min_adjustment_magnitude)
    raise ScalingError(f"AdjustmentType {adjustment_type} is not one of {', '.join(ADJUSTMENT_TYPES)}")


def clamp(capacity: int, min_size: int, max_size: int) -> int:
    return max(min_size, min(max_size, capacity))


def _absolute(offset: float, threshold: float | None, unit: str) -> str:
    if threshold is None or not math.isfinite(offset):
        return ""
    return f"{_number(threshold + offset)} {unit}"


def _span(low: float, high: float, threshold: float | None, unit: str) -> str:
    """`300 to 400 above the threshold (400–500 messages)` for the offsets low..high."""
    def rel(x: float) -> str:
        return "∞" if math.isinf(x) else _number(abs(x) if x != 0 else 0.0)

    if low >= 0:
        text = f"{rel(low)} to {rel(high)} above the threshold"
    elif high <= 0:
        text = f"{rel(high)} to {rel(low)} below the threshold"
    else:
        text = f"{rel(low)} below to {rel(high)} above the threshold"
    if threshold is not None and math.isfinite(low) and math.isfinite(high):
        text += f" ({_number(threshold + low)}–{_number(threshold + high)} {unit})"
    return text


def validate_steps(steps: Sequence[Step], direction: str, threshold: float | None = None,
                   unit: str = "messages") -> list[str]:
    """Problems AWS (or the alarm) would have with these step bounds; [] when sound.

    `direction` is where the breach lies: ABOVE for a GreaterThan alarm (offsets from 0
    up), BELOW for a LessThan alarm (offsets from 0 down). The steps must cover that
    side without overlap or gap, and the outer step must be open-ended.
    """
    if not steps:
        return ["it has no step adjustments; a step policy needs at least one"]
    problems = []
    for number, step in enumerate(steps, 1):
        if step.lower is None and step.upper is None:
            problems.append(f"step {number} ({step.describe(direction)}) has neither MetricIntervalLowerBound nor "
                            "MetricIntervalUpperBound; every step needs at least one bound")
        elif step.low >= step.high:
            problems.append(f"step {number} ({step.describe(direction)}) has its lower bound at or above its upper bound")
    if problems:
        return problems
    ordered = sorted(steps, key=lambda s: (s.low, s.high))
    label = {id(step): f"step {number} ({step.describe(direction)})" for number, step in enumerate(steps, 1)}
    below = ordered[0]  # of the steps so far, the one that reaches highest
    for above in ordered[1:]:
        if below.high > above.low:
            overlap_high = min(below.high, above.high)
            problems.append(f"{label[id(below)]} and {label[id(above)]} overlap from "
                            f"{_span(above.low, overlap_high, threshold, unit)}: AWS rejects overlapping "
                            "steps, since a breach there would match both")
        elif below.high < above.low:
            problems.append(f"there is a gap between {label[id(below)]} and {label[id(above)]}: nothing covers "
                            f"{_span(below.high, above.low, threshold, unit)}, so a breach there would "
                            "scale by nothing (AWS rejects gaps between steps)")
        if above.high > below.high:
            below = above
    lowest, highest = ordered[0], max(ordered, key=lambda s: s.high)
    if direction == ABOVE:
        unreachable = [s for s in ordered if s.high <= 0]
        for step in unreachable:
            problems.append(f"{label[id(step)]} lies entirely below the threshold, but this policy answers an "
                            "alarm that breaches above it, so the step can never apply")
        if len(unreachable) == len(ordered):
            return problems + ["so no step covers a breach above the threshold; use offsets from 0 up"]
        if lowest.low > 0:
            problems.append(f"the lowest step starts {_number(lowest.low)} above the threshold: a breach of "
                            f"{_span(0, lowest.low, threshold, unit)} matches no step; set the first "
                            "step's MetricIntervalLowerBound to 0")
        if highest.upper is not None:
            problems.append(f"the highest step stops at {_number(highest.upper)} above the threshold"
                            f"{' (' + _absolute(highest.upper, threshold, unit) + ')' if threshold is not None else ''}: "
                            "AWS requires the highest step to be open-ended (leave out its "
                            "MetricIntervalUpperBound) so every larger breach is covered")
    else:
        unreachable = [s for s in ordered if s.low >= 0]
        for step in unreachable:
            problems.append(f"{label[id(step)]} lies entirely above the threshold, but this policy answers an "
                            "alarm that breaches below it, so the step can never apply")
        if len(unreachable) == len(ordered):
            return problems + ["so no step covers a breach below the threshold; use offsets from 0 down "
                               "(MetricIntervalUpperBound 0)"]
        if highest.high < 0:
            problems.append(f"the highest step stops {_number(-highest.high)} below the threshold: a breach of "
                            f"{_span(highest.high, 0, threshold, unit)} matches no step; set the last "
                            "step's MetricIntervalUpperBound to 0")
        if lowest.lower is not None:
            problems.append(f"the lowest step stops at {_number(-lowest.lower)} below the threshold"
                            f"{' (' + _absolute(lowest.lower, threshold, unit) + ')' if threshold is not None else ''}: "
                            "AWS requires the lowest step to be open-ended (leave out its "
                            "MetricIntervalLowerBound) so every deeper breach is covered")
    return problems


# -- the simulator ------------------------------------------------------------------------
@dataclass
class Fleet:
    """The lab's fleet record: what the Auto Scaling group's capacity would be."""

    min_size: int
    max_size: int
    desired: int

    def __post_init__(self):
        if self.min_size > self.max_size:
            raise ScalingError(f"MinSize {self.min_size} is above MaxSize {self.max_size}")
        self.desired = clamp(self.desired, self.min_size, self.max_size)


@dataclass(frozen=True)
class Firing:
    alarm: str
    state: str
    policy: str
    before: int
    after: int
    note: str  # "+2 (step [0, 400))", "no step covers ...", "ExactCapacity 1"

    def describe(self) -> str:
        change = f"{self.before} → {self.after}" if self.after != self.before else f"stays {self.after}"
        return f"{self.alarm} ({self.state}) invoked {self.policy}: {self.note}, desired {change}"


@dataclass
class Tick:
    number: int
    datapoints: dict[MetricKey, float]
    evaluations: dict[str, AlarmEvaluation]
    firings: list[Firing]
    before: int
    desired: int
    ignored: list[str] = field(default_factory=list)  # actions that are not this group's policies

    def describe_alarms(self) -> str:
        return "; ".join(f"{name} {ev.state} ({ev.reason})" for name, ev in self.evaluations.items())


Source = Callable[[Fleet], Mapping[MetricKey, float]]


class Simulator:
    """Replays CloudWatch alarms and Auto Scaling step policies against a fleet record.

    `policies` are the group's own policies by ARN; an alarm action that names anything
    else (an SNS topic, another group's policy) is recorded as ignored, not invoked.
    """

    def __init__(self, alarms: Iterable[Alarm], policies: Mapping[str, StepPolicy], fleet: Fleet):
        self.alarms = list(alarms)
        self.policies = dict(policies)
        self.fleet = fleet
        self.history: dict[str, list[list[float] | None]] = {alarm.name: [] for alarm in self.alarms}
        self.states: dict[str, str] = {alarm.name: INSUFFICIENT for alarm in self.alarms}
        self.ticks: list[Tick] = []

    def tick(self, source: Source, act: bool = True) -> Tick:
        """One evaluation period: read every alarm's datapoint, evaluate, invoke actions."""
        datapoints = dict(source(self.fleet))
        before = self.fleet.desired
        evaluations, firings, ignored = {}, [], []
        for alarm in self.alarms:
            value = datapoints.get(alarm.key)
            self.history[alarm.name].append([float(value)] if value is not None else None)
            evaluation = evaluate_alarm(alarm, self.history[alarm.name], self.states[alarm.name])
            self.states[alarm.name] = evaluation.state
            evaluations[alarm.name] = evaluation
            if not act:
                continue
            for arn in alarm.actions_for(evaluation.state):
                policy = self.policies.get(arn)
                if policy is None:
                    ignored.append(f"{alarm.name} → {arn}")
                    continue
                firings.append(self._invoke(alarm, evaluation, policy))
        tick = Tick(len(self.ticks) + 1, datapoints, evaluations, firings, before, self.fleet.desired, ignored)
        self.ticks.append(tick)
        return tick

    def hold(self, source: Source, max_ticks: int, until: Callable[[Tick], bool] | None = None) -> list[Tick]:
        """Tick up to `max_ticks` times, stopping early once `until(tick)` is true."""
        ticks = []
        for _ in range(max(1, max_ticks)):
            tick = self.tick(source)
            ticks.append(tick)
            if until is not None and until(tick):
                break
        return ticks

    def _invoke(self, alarm: Alarm, evaluation: AlarmEvaluation, policy: StepPolicy) -> Firing:
        fleet = self.fleet
        before = fleet.desired
        if not policy.enabled:
            return Firing(alarm.name, evaluation.state, policy.name, before, before, "the policy is disabled")
        if policy.policy_type == "StepScaling":
            if evaluation.value is None:
                return Firing(alarm.name, evaluation.state, policy.name, before, before,
                              "no datapoint to place in a step")
            offset = evaluation.value - alarm.threshold
            step = select_step(policy.steps, offset, alarm.direction)
            if step is None:
                return Firing(alarm.name, evaluation.state, policy.name, before, before,
                              f"no step covers {_number(evaluation.value)} ({_number(offset)} from the threshold "
                              f"{_number(alarm.threshold)})")
            adjustment, note = step.adjustment, f"step {step.describe(alarm.direction)}"
        elif policy.policy_type == "SimpleScaling":
            adjustment, note = policy.scaling_adjustment or 0, "simple scaling"
        else:
            return Firing(alarm.name, evaluation.state, policy.name, before, before,
                          f"{policy.policy_type} policies manage their own alarms; not replayed")
        wanted = new_capacity(policy.adjustment_type, adjustment, before, policy.min_adjustment_magnitude)
        fleet.desired = clamp(wanted, fleet.min_size, fleet.max_size)
        verb = {"ChangeInCapacity": f"{adjustment:+d}", "ExactCapacity": f"exactly {adjustment}",
                "PercentChangeInCapacity": f"{adjustment:+d}%"}.get(policy.adjustment_type, str(adjustment))
        capped = ""
        if wanted > fleet.max_size:
            capped = f", capped at MaxSize {fleet.max_size} (asked {wanted})"
        elif wanted < fleet.min_size:
            capped = f", held at MinSize {fleet.min_size} (asked {wanted})"
        return Firing(alarm.name, evaluation.state, policy.name, before, fleet.desired, f"{verb} from {note}{capped}")
