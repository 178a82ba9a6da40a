"""sqs-scaling: a worker fleet that scales on the ride-jobs queue backlog.

How it is graded:
- configuration reads for the queues, the launch template and Auto Scaling
  group, the step policies and the alarms, with our own evaluator for what
  AWS would reject (overlapping or gapped step bounds, see _support/scaling);
- behaviour on probe copies, never on the learner's resources: a probe queue
  with the learner's maxReceiveCount shows redrive to a probe DLQ; the
  learner's `publish_backlog()` is pointed at a probe queue holding a known
  backlog and its datapoints are read back; the learner's `process_batch()`
  works a probe queue of jobs (good, failing, not JSON) through a recording
  handler;
- the scaling simulator (_support/scaling.py) replays a flood against the
  learner's own alarms and policies, read from the emulator: 150 messages
  visible -> 3 instances, 600 -> 8, then 10 (MaxSize), 75 -> no change,
  drained -> back to MinSize 1, on a fleet record seeded from the group.

A check changes nothing the learner can see. Probe queues are named
lab-probe-<run id>-... and deleted before the check returns; the learner's
queues are only described, never sent to or received from. The group's
desired capacity is never set: on moto every capacity change launches or
terminates EC2 instances (and scale-in may terminate the learner's original
instance), so the simulator applies its result to a fleet record instead.
The depths are replayed rather than sent as 600 real messages: moto's SQS
slows down with queue size (about 5 s to enqueue 600 messages), and nothing
is gained by it; `lab report sqs-scaling scaling` runs the simulator on the
real depth of ride-jobs for the learner's own flood.
CloudWatch datapoints cannot be deleted, so the publisher probe writes under
the probe queue's own QueueName (lab-probe-<run id>-backlog): each check reads
only its own series and the learner's ride-jobs series stay untouched.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from checkers._support import scaling
from checkers._support.scaling import ABOVE, BELOW, Alarm, Fleet, Simulator, StepPolicy, metric_key
from checkers._support.sqs import queue_arn, queue_attributes, queue_url, stale_probe_queues
from labkit.checks import Checker, CheckContext, Fail, expect

checker = Checker("sqs-scaling")

QUEUE, DLQ = "ride-jobs", "ride-jobs-dlq"
VISIBILITY_TIMEOUT = 60
MAX_RECEIVE_LIMIT = 10  # 3 in the lab; more than 10 retries only delays the DLQ
LAUNCH_TEMPLATE, GROUP = "ride-worker", "ride-workers"
MIN_SIZE, MAX_SIZE = 1, 10
NAMESPACE = "RideWorkers"
VISIBLE = "ApproximateNumberOfMessagesVisible"
BACKLOG = "BacklogPerInstance"
ALARM_NAMESPACES = ("AWS/SQS", NAMESPACE)
SCALE_OUT, SCALE_IN = "ride-workers-scale-out", "ride-workers-scale-in"
HIGH, LOW = "ride-jobs-backlog-high", "ride-jobs-backlog-low"
HIGH_THRESHOLD, LOW_THRESHOLD = 100, 50
PERIOD = 60
PUBLISHER_FILE, PUBLISHER_FUNCTION = "publish_backlog.py", "publish_backlog"
WORKER_FILE, WORKER_FUNCTION = "worker.py", "process_batch"
PROBE_DEPTH = 7  # messages in the publisher's probe queue
STAND_IN_FLEET = 4  # InService instances the publisher is shown (see StandInFleet)
PROBE_SUFFIXES = ("redrive", "redrive-dlq", "jobs", "jobs-dlq", "backlog")

# What each wrong metric measures, for the alarm messages.
OTHER_METRICS = {
    "ApproximateNumberOfMessagesNotVisible": "counts jobs already being worked on (in flight), not the ones waiting",
    "ApproximateNumberOfMessagesDelayed": "counts delayed messages only",
    "NumberOfMessagesSent": "is the arrival rate, not what is waiting",
    "NumberOfMessagesReceived": "is the consumption rate, not what is waiting",
    "NumberOfMessagesDeleted": "is the completion rate, not what is waiting",
    "ApproximateAgeOfOldestMessage": "is an age in seconds, not a message count",
    BACKLOG: "is the backlog per instance, which falls as the fleet grows; the thresholds here are total messages",
}


def probe_name(ctx: CheckContext, suffix: str) -> str:
    return f"lab-probe-{ctx.run_id}-{suffix}"


def sweep_stale_probes(ctx: CheckContext) -> None:
    """Delete the probe queues of a check that was killed or timed out mid-probe (another run's,
    over a minute old), so an interrupted check leaves no trace (a fixture: once per check)."""
    sqs = ctx.client("sqs")
    for url in stale_probe_queues(sqs, ctx.run_id):
        if url.rsplit("/", 1)[-1].endswith(tuple(f"-{suffix}" for suffix in PROBE_SUFFIXES)):
            sqs.delete_queue(QueueUrl=url)


def _json_object(value) -> dict | None:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if value else None
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _int(value) -> int | None:
    """maxReceiveCount comes back as a number (moto) or a string (ministack)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _fmt(value: float) -> str:
    return f"{value:g}"


# -- what the emulator holds ------------------------------------------------------------------
@dataclass
class Queues:
    url: str | None
    attributes: dict
    dlq_url: str | None
    dlq_arn: str | None


def read_queues(ctx: CheckContext) -> Queues:
    sqs = ctx.client("sqs")
    url, dlq = queue_url(sqs, QUEUE), queue_url(sqs, DLQ)
    return Queues(url, queue_attributes(sqs, url) if url else {}, dlq, queue_arn(sqs, dlq) if dlq else None)


@dataclass
class FleetSetup:
    group: dict | None
    template: dict | None  # describe_launch_templates entry
    template_data: dict  # its $Latest LaunchTemplateData
    policies: dict[str, dict] = field(default_factory=dict)  # by name

    @property
    def in_service(self) -> int:
        return sum(i.get("LifecycleState") == "InService" for i in (self.group or {}).get("Instances", []))

    def policy_names(self) -> str:
        return ", ".join(sorted(self.policies)) or "none"


def read_fleet(ctx: CheckContext) -> FleetSetup:
    autoscaling, ec2 = ctx.client("autoscaling"), ctx.client("ec2")
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
    group = next((g for g in groups if g["AutoScalingGroupName"] == GROUP), None)
    template, data = None, {}
    try:
        template = ec2.describe_launch_templates(LaunchTemplateNames=[LAUNCH_TEMPLATE])["LaunchTemplates"][0]
        versions = ec2.describe_launch_template_versions(LaunchTemplateName=LAUNCH_TEMPLATE, Versions=["$Latest"])
        data = (versions.get("LaunchTemplateVersions") or [{}])[0].get("LaunchTemplateData", {})
    except (ClientError, IndexError):
        pass
    policies = {}
    if group is not None:
        paginator = autoscaling.get_paginator("describe_policies")
        for page in paginator.paginate(AutoScalingGroupName=GROUP):
            for policy in page.get("ScalingPolicies", []):
                if policy.get("AutoScalingGroupName", GROUP) == GROUP:
                    policies[policy["PolicyName"]] = policy
    return FleetSetup(group, template, data, policies)


def read_alarms(ctx: CheckContext) -> dict[str, dict]:
    paginator = ctx.client("cloudwatch").get_paginator("describe_alarms")
    return {alarm["AlarmName"]: alarm for page in paginator.paginate(AlarmTypes=["MetricAlarm"])
            for alarm in page.get("MetricAlarms", [])}


def require_group(fleet: FleetSetup) -> dict:
    expect(fleet.group, f"There is no Auto Scaling group named {GROUP} yet; create it first (task create-fleet).")
    return fleet.group


# -- task 1: queues ----------------------------------------------------------------------------
@dataclass
class RedriveProbe:
    receives: int
    moved: bool


def redrive_probe(ctx: CheckContext, max_receive_count) -> RedriveProbe:
    """A probe queue with the learner's maxReceiveCount (as stored) and a probe DLQ: receive a job
    without deleting it until SQS sets it aside."""
    ctx.fixture(sweep_stale_probes)
    sqs = ctx.client("sqs")
    dlq_url = sqs.create_queue(QueueName=probe_name(ctx, "redrive-dlq"))["QueueUrl"]
    url = None
    try:
        redrive = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": max_receive_count}
        url = sqs.create_queue(QueueName=probe_name(ctx, "redrive"),
                               Attributes={"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"jobId": f"{ctx.run_id}-redrive"}))
        receives = 0
        for _ in range(int(max_receive_count) + 1):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0)
            receives += len(got.get("Messages", []))
        moved = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        return RedriveProbe(receives, int(moved["Attributes"]["ApproximateNumberOfMessages"]) == 1)
    finally:
        for probe in (url, dlq_url):
            if probe:
                sqs.delete_queue(QueueUrl=probe)


@checker.task("create-queues")
def create_queues(ctx: CheckContext) -> str:
    queues = ctx.fixture(read_queues)
    expect(queues.url, f"No queue named {QUEUE} yet; expected a standard queue for the ride jobs.")
    attributes = queues.attributes
    visibility = int(attributes.get("VisibilityTimeout", 30))
    expect(visibility == VISIBILITY_TIMEOUT,
           f"{QUEUE} has VisibilityTimeout {visibility} s; a job takes up to 45 s, so set {VISIBILITY_TIMEOUT} s: "
           "shorter and a second worker picks up a job that is still being processed, longer and the job "
           "of a crashed worker waits needlessly.")
    wait = int(attributes.get("ReceiveMessageWaitTimeSeconds", 0))
    expect(wait >= 1,
           f"{QUEUE} has ReceiveMessageWaitTimeSeconds 0 (short polling): idle workers would hammer SQS with "
           "empty receives; set it to 10 for long polling.")
    expect(queues.dlq_url, f"No queue named {DLQ} yet; expected a dead-letter queue for jobs that keep failing.")
    document = attributes.get("RedrivePolicy")
    expect(document, f"{QUEUE} has no RedrivePolicy, so a job that always fails is retried forever; expected "
                     f"deadLetterTargetArn = {queues.dlq_arn} and maxReceiveCount = 3.")
    redrive = _json_object(document)
    expect(redrive is not None, f"{QUEUE}'s RedrivePolicy is not a JSON object ({document!r}).")
    target = redrive.get("deadLetterTargetArn")
    expect(target == queues.dlq_arn,
           f"{QUEUE}'s RedrivePolicy sends failed jobs to {target or 'nothing'}; expected {DLQ} ({queues.dlq_arn}).")
    raw_count = redrive.get("maxReceiveCount")
    count = _int(raw_count)
    expect(count is not None and count >= 1,
           f"{QUEUE}'s RedrivePolicy has maxReceiveCount {raw_count!r}: a job must be received at least once "
           "before it can be set aside (AWS accepts 1 to 1000); use 3.")
    expect(count <= MAX_RECEIVE_LIMIT,
           f"{QUEUE}'s RedrivePolicy has maxReceiveCount {count}: a failing job would be retried {count} times "
           f"before it reaches {DLQ}; use 3 (1 to {MAX_RECEIVE_LIMIT} accepted).")
    probe = redrive_probe(ctx, raw_count)
    expect(probe.receives == count and probe.moved,
           f"A probe queue with your redrive settings (maxReceiveCount {raw_count!r}) delivered a failing job "
           f"{probe.receives} time(s) and {'moved' if probe.moved else 'did not move'} it to its dead-letter "
           f"queue; expected {count} deliveries, then the dead-letter queue.")
    return (f"{QUEUE} (visibility {visibility} s, long polling {wait} s) sends a job to {DLQ} after {count} "
            f"receives: a probe job received {count} times without being deleted moved to the DLQ on the next receive.")


# -- task 2: launch template and Auto Scaling group -----------------------------------------------
@checker.task("create-fleet")
def create_fleet(ctx: CheckContext) -> str:
    fleet = ctx.fixture(read_fleet)
    expect(fleet.template, f"No launch template named {LAUNCH_TEMPLATE} yet; expected one with an ImageId and an "
                           "InstanceType for the workers.")
    data = fleet.template_data
    missing = [name for name in ("ImageId", "InstanceType") if not data.get(name)]
    expect(not missing, f"Launch template {LAUNCH_TEMPLATE}'s latest version has no {' or '.join(missing)}; "
                        "a group cannot launch instances from it.")
    group = fleet.group
    expect(group, f"No Auto Scaling group named {GROUP} yet; expected one launched from {LAUNCH_TEMPLATE}.")
    spec = group.get("LaunchTemplate") or (group.get("MixedInstancesPolicy") or {}).get(
        "LaunchTemplate", {}).get("LaunchTemplateSpecification") or {}
    if not spec:
        used = group.get("LaunchConfigurationName")
        raise Fail(f"{GROUP} launches from {'launch configuration ' + used if used else 'nothing'}; launch "
                   f"configurations are deprecated: use the launch template {LAUNCH_TEMPLATE}.")
    uses = spec.get("LaunchTemplateName") == LAUNCH_TEMPLATE or spec.get("LaunchTemplateId") in (
        fleet.template["LaunchTemplateId"], LAUNCH_TEMPLATE)
    expect(uses, f"{GROUP} uses launch template {spec.get('LaunchTemplateName') or spec.get('LaunchTemplateId')}; "
                 f"expected {LAUNCH_TEMPLATE}.")
    sizes = (group["MinSize"], group["MaxSize"])
    expect(sizes == (MIN_SIZE, MAX_SIZE),
           f"{GROUP} has MinSize {sizes[0]} and MaxSize {sizes[1]}; expected {MIN_SIZE} and {MAX_SIZE}: one worker "
           f"stays up when the queue is empty, and a flood never costs more than {MAX_SIZE} instances.")
    return (f"{GROUP} launches {data['InstanceType']} instances ({data['ImageId']}) from {LAUNCH_TEMPLATE}, "
            f"MinSize {MIN_SIZE}, MaxSize {MAX_SIZE}, desired {group['DesiredCapacity']} "
            f"({fleet.in_service} InService).")


# -- task 3: the backlog publisher ----------------------------------------------------------------
@dataclass
class Series:
    namespace: str
    metric: str
    dimensions: dict
    samples: int
    minimum: float | None
    maximum: float | None


@dataclass
class PublisherProbe:
    queue: str
    depth: int
    in_service: int  # what the learner's code saw of the group while it ran
    returned: object
    series: list[Series]
    shown_fleet: bool = False  # the learner's code read the group through our stand-in fleet


class StandInFleet:
    """While the learner's publisher runs, its DescribeAutoScalingGroups answers show the group
    with STAND_IN_FLEET InService instances: with the lab's usual single instance, a publisher
    that forgets to divide by the fleet would look right. Only the learner session is affected
    (code that builds its own boto3 Session sees the real group, and is graded against that)."""

    def __init__(self, ctx: CheckContext):
        self.ctx, self.used = ctx, False
        self.events = ctx.factory.learner_session()._session

    def __enter__(self):
        self.events.register("before-parameter-build.auto-scaling.DescribeAutoScalingGroups", self._remember)
        self.events.register("before-call.auto-scaling.DescribeAutoScalingGroups", self._answer)
        return self

    def __exit__(self, *exc):
        self.events.unregister("before-parameter-build.auto-scaling.DescribeAutoScalingGroups", self._remember)
        self.events.unregister("before-call.auto-scaling.DescribeAutoScalingGroups", self._answer)
        return False

    def _remember(self, params, context, **_):
        context["lab_params"] = dict(params)

    def _answer(self, context, **_):
        response = self.ctx.client("autoscaling").describe_auto_scaling_groups(**context.get("lab_params", {}))
        response.pop("ResponseMetadata", None)
        for group in response.get("AutoScalingGroups", []):
            if group["AutoScalingGroupName"] == GROUP:
                template = (group.get("Instances") or [{}])[0]
                group["Instances"] = [{**template, "InstanceId": f"i-lab{n:013d}", "LifecycleState": "InService",
                                       "HealthStatus": "Healthy"} for n in range(STAND_IN_FLEET)]
                self.used = True
        return _Ok(), response


class _Ok:
    status_code = 200


def publisher_probe(ctx: CheckContext) -> PublisherProbe:
    """Point the learner's publish_backlog() at a probe queue with a known backlog and read back what
    it published under that queue's name (a dimension value no one else uses, so the learner's own
    ride-jobs graphs get nothing and each check reads only its own datapoints)."""
    fleet = ctx.fixture(read_fleet)
    require_group(fleet)
    stand_in = StandInFleet(ctx)
    with stand_in:  # module-level clients made at import must see it too
        publish = ctx.learner_function(PUBLISHER_FILE, PUBLISHER_FUNCTION)
    sqs, cloudwatch = ctx.client("sqs"), ctx.client("cloudwatch")
    ctx.fixture(sweep_stale_probes)
    name = probe_name(ctx, "backlog")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"jobId": f"{ctx.run_id}-backlog-{i}"})} for i in range(PROBE_DEPTH)])
        started = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=2)
        with stand_in:
            returned = ctx.call_learner(publish, url, GROUP)
        found = []
        paginator = cloudwatch.get_paginator("list_metrics")
        for page in paginator.paginate(Dimensions=[{"Name": "QueueName", "Value": name}]):
            for metric in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                key = metric_key(metric["Namespace"], metric["MetricName"], dims)
                if key in {metric_key(s.namespace, s.metric, s.dimensions) for s in found}:
                    continue  # moto lists a series once per datapoint batch
                stats = cloudwatch.get_metric_statistics(
                    Namespace=metric["Namespace"], MetricName=metric["MetricName"], Dimensions=metric["Dimensions"],
                    StartTime=started, EndTime=datetime.now(timezone.utc) + timedelta(minutes=1), Period=PERIOD,
                    Statistics=["Minimum", "Maximum", "SampleCount"])["Datapoints"]
                samples = int(sum(p.get("SampleCount", 0) for p in stats))
                found.append(Series(metric["Namespace"], metric["MetricName"], dims, samples,
                                    min((p["Minimum"] for p in stats), default=None),
                                    max((p["Maximum"] for p in stats), default=None)))
        shown = STAND_IN_FLEET if stand_in.used else fleet.in_service
        return PublisherProbe(name, PROBE_DEPTH, shown, returned, found, stand_in.used)
    finally:
        sqs.delete_queue(QueueUrl=url)


def _check_series(probe: PublisherProbe, metric: str, expected: float, why: str) -> Series:
    published = [s for s in probe.series if s.metric == metric]
    where = f"QueueName={probe.queue}"
    if not published:
        others = sorted({s.metric for s in probe.series})
        seen = f" (it published {', '.join(others)})" if others else ""
        raise Fail(f"{PUBLISHER_FUNCTION}() published no {metric} with the dimension {where}{seen}; expected one "
                   f"datapoint in namespace {NAMESPACE}, with the queue's name (the last part of queue_url) as QueueName.")
    right = [s for s in published if s.namespace == NAMESPACE]
    if not right:
        wrong = published[0].namespace
        extra = " (AWS rejects custom data in AWS/ namespaces)" if wrong.startswith("AWS/") else ""
        raise Fail(f"{PUBLISHER_FUNCTION}() published {metric} to namespace {wrong}{extra}; expected {NAMESPACE}.")
    exact = [s for s in right if s.dimensions == {"QueueName": probe.queue}]
    if not exact:
        dims = ", ".join(f"{k}={v}" for k, v in right[0].dimensions.items())
        raise Fail(f"{PUBLISHER_FUNCTION}() published {metric} with the dimensions {dims}; expected only {where}: "
                   "an alarm or graph on QueueName alone never sees a series with extra dimensions.")
    series = exact[0]
    expect(series.samples >= 1,
           f"{PUBLISHER_FUNCTION}() published {metric} for {where}, but with a timestamp outside the last minute: "
           "leave out Timestamp (CloudWatch then uses the current time).")
    expect(math.isclose(series.minimum, expected, abs_tol=1e-6) and math.isclose(series.maximum, expected, abs_tol=1e-6),
           f"{PUBLISHER_FUNCTION}() published {metric} = {_fmt(series.maximum)}; expected {_fmt(expected)} ({why}).")
    return series


@checker.task("publish-backlog")
def publish_backlog(ctx: CheckContext) -> str:
    probe = ctx.fixture(publisher_probe)
    _check_series(probe, VISIBLE, probe.depth,
                  f"the probe queue held {probe.depth} visible messages: read its ApproximateNumberOfMessages attribute")
    per_instance = probe.depth / max(probe.in_service, 1)
    shown = (f"; during the check your code was shown {GROUP} with {STAND_IN_FLEET} InService instances, so that "
             "a missing division by the fleet shows" if probe.shown_fleet else "")
    _check_series(probe, BACKLOG, per_instance,
                  f"{probe.depth} visible messages / {probe.in_service} InService instance(s) of {GROUP}{shown}")
    return (f"{PUBLISHER_FUNCTION}() published {VISIBLE} = {probe.depth} and {BACKLOG} = {_fmt(per_instance)} "
            f"({probe.depth} / {probe.in_service} InService) to {NAMESPACE} for a probe queue with {probe.depth} messages.")


# -- task 4: step scaling policies -------------------------------------------------------------
# (metric value, adjustment) pairs each policy must give; the steps are offsets from the threshold.
SCALE_OUT_POINTS = ((150, 2), (499, 2), (500, 5), (600, 5), (5000, 5))
SCALE_IN_POINTS = ((49, -1), (0, -1))


def check_step_policy(fleet: FleetSetup, name: str, direction: str, threshold: float, points) -> StepPolicy:
    raw = fleet.policies.get(name)
    expect(raw, f"{GROUP} has no scaling policy named {name} (policies: {fleet.policy_names()}).")
    policy = StepPolicy.from_api(raw)
    if direction == ABOVE:
        shape = "two steps: +2 from 100 messages, +5 from 500"
        bounds = "bounds are offsets from the threshold, so 500 messages is MetricIntervalLowerBound 400"
    else:
        shape = "one step: -1 below 50 messages"
        bounds = "a step below the threshold ends at MetricIntervalUpperBound 0"
    expect(policy.policy_type == "StepScaling",
           f"{name} is a {policy.policy_type} policy; expected StepScaling with {shape}.")
    expect(policy.adjustment_type == "ChangeInCapacity",
           f"{name} uses AdjustmentType {policy.adjustment_type}; expected ChangeInCapacity: the steps add or "
           "remove instances relative to the current fleet.")
    expect(policy.enabled, f"{name} is disabled; enable it.")
    side = "above" if direction == ABOVE else "below"
    problems = scaling.validate_steps(policy.steps, direction, threshold)
    if problems:
        raise Fail(f"{name}'s step bounds are offsets from the alarm threshold ({threshold} messages, breached {side}): "
                   + "; ".join(problems) + ".")
    for value, wanted in points:
        step = scaling.select_step(policy.steps, value - threshold, direction)
        got = step.adjustment if step else 0
        expect(got == wanted,
               f"At {value} messages ({_fmt(abs(value - threshold))} {side} the threshold {threshold}) {name} "
               f"would change the fleet by {got:+d}; expected {wanted:+d} ({shape}; {bounds}).")
    return policy


@checker.task("scaling-policies")
def scaling_policies(ctx: CheckContext) -> str:
    fleet = ctx.fixture(read_fleet)
    require_group(fleet)
    out = check_step_policy(fleet, SCALE_OUT, ABOVE, HIGH_THRESHOLD, SCALE_OUT_POINTS)
    into = check_step_policy(fleet, SCALE_IN, BELOW, LOW_THRESHOLD, SCALE_IN_POINTS)
    steps = lambda policy, direction: ", ".join(s.describe(direction) for s in policy.steps)  # noqa: E731
    return (f"{SCALE_OUT} steps {steps(out, ABOVE)} from the high threshold {HIGH_THRESHOLD}; "
            f"{SCALE_IN} steps {steps(into, BELOW)} from the low threshold {LOW_THRESHOLD}.")


# -- task 5: alarms ----------------------------------------------------------------------------
def _policy_of(arn: str) -> str | None:
    """The policy name in a scaling policy ARN (…:autoScalingGroupName/G:policyName/P)."""
    return arn.split(":policyName/", 1)[1] if ":scalingPolicy:" in arn and ":policyName/" in arn else None


def check_alarm(alarm: dict | None, name: str, threshold: float, direction: str, own: dict, other: dict) -> Alarm:
    expect(alarm, f"No CloudWatch alarm named {name} yet.")
    expect(not alarm.get("Metrics"), f"{name} uses metric math; expected a single-metric alarm on {VISIBLE}.")
    metric = alarm.get("MetricName")
    if metric != VISIBLE:
        why = OTHER_METRICS.get(metric, "is not the backlog")
        raise Fail(f"{name} watches {metric}, which {why}; expected {VISIBLE}: the jobs waiting to be picked up.")
    expect(alarm.get("Namespace") in ALARM_NAMESPACES,
           f"{name} watches namespace {alarm.get('Namespace')}; expected AWS/SQS (where SQS publishes {VISIBLE}).")
    dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
    if dims != {"QueueName": QUEUE}:
        shown = ", ".join(f"{k}={v}" for k, v in dims.items()) or "no dimensions"
        hint = f" ({DLQ} holds failed jobs, not the backlog)" if dims.get("QueueName") == DLQ else ""
        raise Fail(f"{name} watches {VISIBLE} for {shown}{hint}; expected exactly QueueName={QUEUE}.")
    statistic = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
    expect(statistic != "SampleCount",
           f"{name} uses the statistic SampleCount, which counts datapoints, not messages; use Average.")
    expect(alarm.get("Period") == PERIOD and alarm.get("EvaluationPeriods") == 1
           and alarm.get("DatapointsToAlarm") in (None, 1),
           f"{name} evaluates {alarm.get('DatapointsToAlarm') or alarm.get('EvaluationPeriods')} of "
           f"{alarm.get('EvaluationPeriods')} period(s) of {alarm.get('Period')} s; expected 1 period of {PERIOD} s, "
           "so the fleet reacts within a minute.")
    operator = alarm.get("ComparisonOperator", "")
    wanted = "GreaterThanThreshold" if direction == ABOVE else "LessThanThreshold"
    if scaling.OPERATORS.get(operator, (None,))[0] != direction:
        when = "nearly empty" if direction == ABOVE else "flooded"
        raise Fail(f"{name} uses {operator or 'no ComparisonOperator'}: it would be in ALARM while the queue is "
                   f"{when}; expected {wanted}.")
    expect(float(alarm.get("Threshold", -1)) == threshold,
           f"{name} has Threshold {_fmt(float(alarm.get('Threshold', 0)))}; expected {threshold} messages"
           f"{' (the scale-out steps are offsets from it)' if direction == ABOVE else ''}.")
    expect(alarm.get("ActionsEnabled", True), f"{name} has its actions disabled (ActionsEnabled false); enable them.")
    actions = alarm.get("AlarmActions") or []
    expect(other["PolicyARN"] not in actions,
           f"{name} invokes {other['PolicyName']}: this alarm must {'scale out' if direction == ABOVE else 'scale in'}; "
           f"wire {other['PolicyName']} to {LOW if direction == ABOVE else HIGH} instead.")
    for state, key in (("OK", "OKActions"), ("INSUFFICIENT_DATA", "InsufficientDataActions")):
        scaling_actions = [a for a in alarm.get(key) or [] if _policy_of(a)]
        expect(not scaling_actions,
               f"{name} invokes {', '.join(_policy_of(a) for a in scaling_actions)} in state {state} ({key}): an "
               "alarm repeats Auto Scaling actions every period it stays in that state; scaling policies belong in "
               "AlarmActions only.")
    if own["PolicyARN"] not in actions:
        stale = [a for a in actions if _policy_of(a) == own["PolicyName"]]
        if stale:
            raise Fail(f"{name} invokes an old ARN of {own['PolicyName']} ({stale[0]}); the policy was re-created "
                       f"since. Put the alarm again with the current PolicyARN {own['PolicyARN']}.")
        raise Fail(f"{name} does not invoke {own['PolicyName']} (AlarmActions: {', '.join(actions) or 'none'}); "
                   f"add its PolicyARN {own['PolicyARN']}.")
    return Alarm.from_api(alarm)


@checker.task("backlog-alarms")
def backlog_alarms(ctx: CheckContext) -> str:
    fleet = ctx.fixture(read_fleet)
    require_group(fleet)
    out, into = fleet.policies.get(SCALE_OUT), fleet.policies.get(SCALE_IN)
    expect(out and into, f"The alarms invoke the scaling policies by ARN, and {GROUP} has "
                         f"{fleet.policy_names()}; create {SCALE_OUT} and {SCALE_IN} first (task scaling-policies).")
    alarms = ctx.fixture(read_alarms)
    high = check_alarm(alarms.get(HIGH), HIGH, HIGH_THRESHOLD, ABOVE, out, into)
    low = check_alarm(alarms.get(LOW), LOW, LOW_THRESHOLD, BELOW, into, out)
    shown = lambda a: f"{a.statistic} {VISIBLE} {a.symbol} {_fmt(a.threshold)} ({a.namespace}, QueueName={QUEUE})"  # noqa: E731
    return (f"{HIGH}: {shown(high)} → {SCALE_OUT}; {LOW}: {shown(low)} → {SCALE_IN}; "
            f"each over 1 period of {PERIOD} s.")


# -- task 6: the worker ------------------------------------------------------------------------
@dataclass
class WorkerProbe:
    good: list[str]
    failing: str
    poison: str
    calls: int = 0
    handled: list[str] = field(default_factory=list)
    early_deletes: list[str] = field(default_factory=list)  # handler calls that found their message gone
    odd_arguments: list[str] = field(default_factory=list)
    failure: str | None = None
    in_dlq: set[str] = field(default_factory=set)
    in_queue: set[str] = field(default_factory=set)
    in_flight: int = 0

    def kept(self, job: str) -> bool:
        """Still somewhere SQS can retry it or set it aside (not deleted)."""
        return job in self.in_dlq or job in self.in_queue


def _messages_left(sqs, *urls: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    total = 0
    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        total += sum(int(attributes.get(name, 0)) for name in names)
    return total


def _job_id(body: str, probe: WorkerProbe) -> str | None:
    if probe.poison in body:
        return probe.poison
    job = _parse_job(body)
    return job.get("jobId") if job else None


def _parse_job(body: str) -> dict | None:
    try:
        job = json.loads(body)
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


def worker_probe(ctx: CheckContext) -> WorkerProbe:
    """Run the learner's process_batch() on a probe queue (VisibilityTimeout 0, maxReceiveCount 1, its
    own probe DLQ) holding 3 good jobs, 1 job whose handler raises and 1 message that is not JSON."""
    process_batch = ctx.learner_function(WORKER_FILE, WORKER_FUNCTION)
    ctx.fixture(sweep_stale_probes)
    sqs = ctx.client("sqs")
    run = ctx.run_id
    probe = WorkerProbe(good=[f"{run}-good-{n}" for n in (1, 2, 3)], failing=f"{run}-fails", poison=f"{run}-not-json")
    bodies = [json.dumps({"jobId": probe.good[0], "seconds": 0}),
              json.dumps({"jobId": probe.failing, "seconds": 0}),
              f"{probe.poison}: this message is not JSON",
              json.dumps({"jobId": probe.good[1], "seconds": 0}),
              json.dumps({"jobId": probe.good[2], "seconds": 0})]
    dlq_url = sqs.create_queue(QueueName=probe_name(ctx, "jobs-dlq"))["QueueUrl"]
    url = None
    try:
        redrive = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": 1})
        url = sqs.create_queue(QueueName=probe_name(ctx, "jobs"), Attributes={
            "VisibilityTimeout": "0", "ReceiveMessageWaitTimeSeconds": "0", "RedrivePolicy": redrive})["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
        done = {"ok": 0, "failed": 0}

        def handler(job):
            if not isinstance(job, dict) or "jobId" not in job:
                kind = "the SQS message" if isinstance(job, dict) and "ReceiptHandle" in job else type(job).__name__
                probe.odd_arguments.append(kind)
                return
            job_id = job["jobId"]
            # The job's own message must still be in a queue while the handler runs.
            if _messages_left(sqs, url, dlq_url) < len(bodies) - done["ok"] and done["failed"] == 0:
                probe.early_deletes.append(job_id)
            probe.handled.append(job_id)
            if job_id == probe.failing:
                done["failed"] += 1
                raise RuntimeError(f"probe job {job_id} failed on purpose")
            done["ok"] += 1

        wanted = {*probe.good, probe.failing}
        for _ in range(2 * len(bodies)):  # a worker may take fewer than 10 messages per receive
            visible = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            if int(visible["Attributes"]["ApproximateNumberOfMessages"]) == 0:
                break
            probe.calls += 1
            try:
                ctx.call_learner(process_batch, url, handler)
            except Fail as failure:
                probe.failure = str(failure)
                break
            if wanted <= set(probe.handled) or probe.odd_arguments:
                break
        # Settle: a receive hands back what the worker never received and moves to the probe DLQ
        # what it received and kept (maxReceiveCount 1).
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            probe.in_queue.add(_job_id(message["Body"], probe))
        for message in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            probe.in_dlq.add(_job_id(message["Body"], probe))
        probe.in_flight = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessagesNotVisible"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"])
        # Messages the worker hid with its own VisibilityTimeout are in flight: count the
        # failing job and the poison message as kept first (they were not deleted).
        for job in (probe.failing, probe.poison):
            if probe.in_flight and not probe.kept(job):
                probe.in_queue.add(job)
                probe.in_flight -= 1
        return probe
    finally:
        for queue in (url, dlq_url):
            if queue:
                sqs.delete_queue(QueueUrl=queue)


@checker.task("worker")
def worker(ctx: CheckContext) -> str:
    probe = ctx.fixture(worker_probe)
    name = f"{WORKER_FUNCTION}()"
    if probe.odd_arguments:
        raise Fail(f"{name} called handler() with {probe.odd_arguments[0]}; expected the job: the message body "
                   "parsed with json.loads(message['Body']).")
    if probe.early_deletes:
        raise Fail(f"{name} deletes a message before the handler has processed it: when handler() was called for "
                   f"job {probe.early_deletes[0]}, its message was already gone from the queue. Delete only after "
                   "handler(job) returns; otherwise a job whose processing fails (or whose worker dies mid-job) is lost.")
    if probe.failure and "failed on purpose" in probe.failure:
        raise Fail(f"{probe.failure.rstrip('.')}: a job whose handler raises must not stop the batch. Catch the "
                   "exception, leave that message alone (SQS delivers it again after the visibility timeout, and "
                   "moves it to the DLQ after maxReceiveCount receives) and go on with the next job.")
    if probe.failure and ("JSONDecodeError" in probe.failure or "Expecting value" in probe.failure):
        raise Fail(f"{probe.failure.rstrip('.')}: a message that is not JSON (a poison message) must not stop the "
                   "batch. Leave it in the queue so redrive moves it to the DLQ, and go on with the next job.")
    if probe.failure:
        raise Fail(probe.failure)
    if not probe.handled:
        raise Fail(f"{name} never called the handler it was given: call handler(job) for each message (the "
                   "handler argument, not handle_job directly), so the same loop can run any kind of job.")
    if probe.failing in probe.handled and not probe.kept(probe.failing):
        raise Fail(f"{name} deleted the job whose handler raised ({probe.failing}): it is lost. Leave a failed "
                   "job in the queue, so SQS retries it and finally moves it to the dead-letter queue.")
    if not probe.kept(probe.poison):
        raise Fail(f"{name} deleted the message that is not JSON: a poison message must reach the dead-letter "
                   "queue for someone to inspect, so leave it in the queue (or send it to the DLQ yourself).")
    missing = [job for job in probe.good if job not in probe.handled]
    expect(not missing, f"After {probe.calls} call(s) of {name}, handler() never saw job(s) {', '.join(missing)}; "
                        "expected every message of the batch to be processed (receive up to 10 at once).")
    twice = [job for job in probe.good if probe.handled.count(job) > 1]
    kept = [job for job in probe.good if probe.kept(job)]
    if twice or kept:
        raise Fail(f"{name} processed job {(twice or kept)[0]} but did not delete its message, so it would be "
                   "processed again (and finally land in the DLQ); delete each message once handler(job) returns.")
    where = "in the dead-letter queue" if probe.failing in probe.in_dlq else "in the queue for a retry"
    return (f"{name} processed and then deleted 3 good probe jobs; the job whose handler raised and the message "
            f"that is not JSON stayed {where}.")


# -- task 7: validate scaling (the simulator) --------------------------------------------------
def datapoints(depth: int, fleet: Fleet) -> dict:
    """What CloudWatch would hold for ride-jobs at this depth: SQS's own metric, and the
    publisher's custom pair (BacklogPerInstance over the simulated fleet)."""
    dims = {"QueueName": QUEUE}
    return {metric_key("AWS/SQS", VISIBLE, dims): depth,
            metric_key(NAMESPACE, VISIBLE, dims): depth,
            metric_key(NAMESPACE, BACKLOG, dims): depth / max(fleet.desired, 1)}


@dataclass
class Phase:
    depth: int
    expected: int
    why: str
    start: int
    ticks: list

    @property
    def end(self) -> int:
        return self.ticks[-1].desired if self.ticks else self.start

    @property
    def path(self) -> list[int]:
        return [self.start] + [t.desired for t in self.ticks]


@dataclass
class Replay:
    simulator: Simulator
    alarms: list[Alarm]
    phases: list[Phase]
    notes: list[str]  # alarms the replay could not use, and why


def build_simulator(ctx: CheckContext, desired: int | None = None) -> tuple[Simulator, list[str]]:
    """The learner's group, policies and every alarm that invokes one of them, as the simulator sees them."""
    fleet_setup = ctx.fixture(read_fleet)
    group = require_group(fleet_setup)
    policies = {p["PolicyARN"]: StepPolicy.from_api(p) for p in fleet_setup.policies.values()}
    expect(policies, f"{GROUP} has no scaling policies yet (task scaling-policies).")
    alarms, notes = [], []
    for raw in ctx.fixture(read_alarms).values():
        actions = [a for key in ("AlarmActions", "OKActions", "InsufficientDataActions") for a in raw.get(key) or []]
        for arn in actions:
            if arn not in policies and _policy_of(arn) in fleet_setup.policies and f"/{GROUP}:" in arn:
                notes.append(f"{raw['AlarmName']} invokes an old ARN of {_policy_of(arn)}, which invokes nothing "
                             "(put the alarm again with the current PolicyARN)")
        if not any(arn in policies for arn in actions):
            continue
        try:
            alarms.append(Alarm.from_api(raw))
        except scaling.ScalingError as problem:
            notes.append(f"not replayed: {problem}")
    if not alarms:
        raise Fail(f"No CloudWatch alarm invokes a scaling policy of {GROUP} (policies: {fleet_setup.policy_names()}); "
                   "nothing would ever scale it (task backlog-alarms)" + "".join(f"; {note}" for note in notes) + ".")
    start = group["MinSize"] if desired is None else desired
    return Simulator(alarms, policies, Fleet(group["MinSize"], group["MaxSize"], start)), notes


def replay(ctx: CheckContext) -> Replay:
    simulator, notes = build_simulator(ctx)
    group = ctx.fixture(read_fleet).group
    expect((group["MinSize"], group["MaxSize"]) == (MIN_SIZE, MAX_SIZE),
           f"The replay starts from a quiet fleet of MinSize {MIN_SIZE} and caps at MaxSize {MAX_SIZE}; {GROUP} has "
           f"MinSize {group['MinSize']} and MaxSize {group['MaxSize']} (task create-fleet).")
    alarms = simulator.alarms
    periods = max(alarm.evaluation_periods for alarm in alarms)
    source = lambda depth: (lambda fleet: datapoints(depth, fleet))  # noqa: E731
    for _ in range(periods):  # a quiet queue before the flood: alarm history, no actions
        simulator.tick(source(0), act=False)
    changed = lambda tick: tick.desired != tick.before  # noqa: E731
    plan = [
        (150, MIN_SIZE + 2, periods, changed, f"{MIN_SIZE} + 2: the first step of {SCALE_OUT}"),
        (600, MIN_SIZE + 7, periods, changed, "3 + 5: more than 500 messages is the second step"),
        (600, MAX_SIZE, 1, None, f"8 + 5 = 13, capped at MaxSize {MAX_SIZE}"),
        (75, MAX_SIZE, periods, None, "between the low (50) and high (100) thresholds no alarm fires"),
        (0, MIN_SIZE, MAX_SIZE - MIN_SIZE + periods + 1, lambda tick: tick.desired == MIN_SIZE,
         f"-1 per minute from {SCALE_IN} down to MinSize {MIN_SIZE}"),
        (0, MIN_SIZE, 1, None, f"never below MinSize {MIN_SIZE}"),
    ]
    phases = []
    for depth, expected, max_ticks, until, why in plan:
        start = simulator.fleet.desired
        ticks = simulator.hold(source(depth), max_ticks, until)
        phase = Phase(depth, expected, why, start, ticks)
        phases.append(phase)
        if phase.end != expected:
            break
    return Replay(simulator, alarms, phases, notes)


def explain(phase: Phase, notes: list[str]) -> str:
    tick = phase.ticks[-1]
    firings = [f.describe() for t in phase.ticks for f in t.firings]
    acted = "; ".join(dict.fromkeys(firings)) if firings else "no scaling policy was invoked"
    ignored = f"; ignored actions: {', '.join(dict.fromkeys(tick.ignored))}" if tick.ignored else ""
    noted = "".join(f" Also: {note}." for note in notes)
    return f"Alarms: {tick.describe_alarms()}. Actions: {acted}{ignored}.{noted}"


@checker.task("validate-scaling")
def validate_scaling(ctx: CheckContext) -> str:
    result = ctx.fixture(replay)
    for phase in result.phases:
        if phase.end != phase.expected:
            path = " → ".join(map(str, phase.path))
            raise Fail(f"Replayed {phase.depth} messages visible in {QUEUE}: the fleet went {path}; expected "
                       f"{phase.expected} ({phase.why}). {explain(phase, result.notes)}")
    drain = result.phases[4]
    return (f"Replayed a flood against your alarms and policies: 150 messages → {result.phases[0].end} instances, "
            f"600 → {result.phases[1].end}, then {result.phases[2].end} (MaxSize caps 13), 75 → "
            f"{result.phases[3].end} (between the alarms), drained → {' → '.join(map(str, drain.path[1:]))} "
            f"(MinSize), never outside {MIN_SIZE}..{MAX_SIZE}.")


# -- the learner's own view: `lab report sqs-scaling scaling` ----------------------------------
@checker.report("scaling")
def scaling_report(ctx: CheckContext) -> str:
    """What CloudWatch and Auto Scaling would do now with the real ride-jobs backlog, and the
    replay `lab check` grades. Reads only; changes nothing."""
    lines = ["# Scaling simulator", ""]
    sqs = ctx.client("sqs")
    url = queue_url(sqs, QUEUE)
    fleet_setup = read_fleet(ctx)
    if url is None or fleet_setup.group is None:
        return "\n".join(lines + [f"Create {QUEUE} and {GROUP} first: the simulator reads both."])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    depth = int(attributes["ApproximateNumberOfMessages"])
    group = fleet_setup.group
    try:
        now, notes = build_simulator(ctx, desired=group["DesiredCapacity"])
    except Fail as problem:
        return "\n".join(lines + [f"{QUEUE} holds {depth} visible messages. {problem}"])
    tick = now.tick(lambda fleet: datapoints(depth, fleet))
    lines += [f"**Now:** {QUEUE} holds **{depth}** visible messages; {GROUP} wants {tick.before} instance(s).", ""]
    lines += [f"- {name}: {ev.state} ({ev.reason})" for name, ev in tick.evaluations.items()]
    lines += [f"- {firing.describe()}" for firing in tick.firings] or ["- no scaling policy would be invoked"]
    lines += [f"- {note}" for note in notes]
    lines += ["", f"One evaluation would move the fleet {tick.before} → **{tick.desired}** (the simulator "
                  "changes nothing: your group keeps its desired capacity).", ""]
    try:
        result = replay(ctx)
    except Fail as problem:
        return "\n".join(lines + [f"The replay `lab check` grades cannot run yet: {problem}"])
    lines += ["## The replay `lab check` grades", "", "| messages visible | fleet | expected | why |", "|---|---|---|---|"]
    for phase in result.phases:
        lines.append(f"| {phase.depth} | {' → '.join(map(str, phase.path))} | {phase.expected} | {phase.why} |")
    return "\n".join(lines)


# -- lifecycle -----------------------------------------------------------------------------------
def _delete_probe_queues(sqs) -> None:
    """Probe queues an interrupted check may have left behind (never the learner's)."""
    for url in sqs.list_queues(QueueNamePrefix="lab-probe-chk-").get("QueueUrls", []):
        if url.rsplit("/", 1)[-1].endswith(tuple(f"-{suffix}" for suffix in PROBE_SUFFIXES)):
            sqs.delete_queue(QueueUrl=url)


@checker.setup
def setup(ctx: CheckContext) -> None:
    """Nothing to deploy (every resource is a learner task); clear probes an interrupted check left."""
    _delete_probe_queues(ctx.client("sqs"))


def _launch_template_data(ctx: CheckContext) -> dict:
    return json.loads(ctx.lab_file("solution/launch-template-data.json").read_text())


def has_auto_scaling(ctx: CheckContext) -> bool:
    """False on a backend the lab lists as unable to host the fleet (LocalStack community)."""
    return ctx.backend not in ctx.lab.spec.task("create-fleet").not_on


@checker.solve
def solve(ctx: CheckContext) -> None:
    """The reference solution, as the README's commands build it."""
    sqs = ctx.client("sqs")
    dlq_url = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
    attributes = json.loads(ctx.lab_file("solution/ride-jobs-attributes.json").read_text()
                            .replace("DLQ_ARN", queue_arn(sqs, dlq_url)))
    url = queue_url(sqs, QUEUE) or sqs.create_queue(QueueName=QUEUE, Attributes=attributes)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    if not has_auto_scaling(ctx):
        return  # the rest needs Auto Scaling; the worker is in the workspace already
    ec2, autoscaling, cloudwatch = ctx.client("ec2"), ctx.client("autoscaling"), ctx.client("cloudwatch")

    try:  # moto raises NotFound, ministack answers an empty list
        exists = bool(ec2.describe_launch_templates(LaunchTemplateNames=[LAUNCH_TEMPLATE])["LaunchTemplates"])
    except ClientError:
        exists = False
    if not exists:
        ec2.create_launch_template(LaunchTemplateName=LAUNCH_TEMPLATE, LaunchTemplateData=_launch_template_data(ctx))
    sizes = {"MinSize": MIN_SIZE, "MaxSize": MAX_SIZE, "DesiredCapacity": MIN_SIZE}
    template = {"LaunchTemplateName": LAUNCH_TEMPLATE, "Version": "$Latest"}
    if autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]:
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, LaunchTemplate=template, **sizes)
    else:
        autoscaling.create_auto_scaling_group(AutoScalingGroupName=GROUP, LaunchTemplate=template,
                                              AvailabilityZones=["us-east-1a"], **sizes)

    for name, steps_file in ((SCALE_OUT, "scale-out-steps.json"), (SCALE_IN, "scale-in-steps.json")):
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=GROUP, PolicyName=name, PolicyType="StepScaling", AdjustmentType="ChangeInCapacity",
            MetricAggregationType="Average", EstimatedInstanceWarmup=60,
            StepAdjustments=json.loads(ctx.lab_file(f"solution/{steps_file}").read_text()))
    # moto's put_scaling_policy response has no PolicyARN: read it back, as the README does.
    arns = {p["PolicyName"]: p["PolicyARN"]
            for p in autoscaling.describe_policies(AutoScalingGroupName=GROUP)["ScalingPolicies"]}
    for name, threshold, operator, policy in ((HIGH, HIGH_THRESHOLD, "GreaterThanThreshold", SCALE_OUT),
                                              (LOW, LOW_THRESHOLD, "LessThanThreshold", SCALE_IN)):
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/SQS", MetricName=VISIBLE, Dimensions=[{"Name": "QueueName", "Value": QUEUE}],
            Statistic="Average", Period=PERIOD, EvaluationPeriods=1, Threshold=threshold, ComparisonOperator=operator,
            AlarmActions=[arns[policy]])


@checker.cleanup
def cleanup(ctx: CheckContext) -> None:
    """Remove the alarms, policies, group, launch template and queues (`lab reset sqs-scaling`)."""
    sqs, ec2 = ctx.client("sqs"), ctx.client("ec2")
    cloudwatch = ctx.client("cloudwatch")
    alarms = [name for name in (HIGH, LOW) if name in read_alarms(ctx)]
    if alarms:
        cloudwatch.delete_alarms(AlarmNames=alarms)
    try:
        autoscaling = ctx.client("autoscaling") if has_auto_scaling(ctx) else None
        if autoscaling and autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]:
            for policy in autoscaling.describe_policies(AutoScalingGroupName=GROUP)["ScalingPolicies"]:
                autoscaling.delete_policy(AutoScalingGroupName=GROUP, PolicyName=policy["PolicyName"])
            autoscaling.delete_auto_scaling_group(AutoScalingGroupName=GROUP, ForceDelete=True)
    except ClientError:
        pass  # no Auto Scaling on this backend (LocalStack community)
    try:
        ec2.delete_launch_template(LaunchTemplateName=LAUNCH_TEMPLATE)
    except ClientError:
        pass  # there is none
    for name in (QUEUE, DLQ):
        url = queue_url(sqs, name)
        if url:
            sqs.delete_queue(QueueUrl=url)
    _delete_probe_queues(sqs)
