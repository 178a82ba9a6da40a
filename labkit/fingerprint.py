"""A cheap summary of what a learner can change, so `lab watch` re-grades only on change.

For each AWS service a lab lists in lab.yaml, a few list/describe calls capture
the configuration a check could depend on (counters such as queue depths are
left out: probes and consumers move them all the time). The learner's
workspace contributes file names, sizes and modification times. A checker may
override all this with `@checker.fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

from botocore.exceptions import ClientError


def _quiet(call: Callable, *args, **kwargs):
    """The response, or the error code: a missing policy is part of the state too."""
    try:
        response = call(*args, **kwargs)
    except ClientError as error:
        return {"error": error.response.get("Error", {}).get("Code", "?")}
    response.pop("ResponseMetadata", None)
    return response


def _sns(ctx) -> list:
    sns = ctx.client("sns")
    topics = sorted(t["TopicArn"] for t in sns.list_topics().get("Topics", []))
    subscriptions = sorted(sns.list_subscriptions().get("Subscriptions", []), key=lambda s: s["SubscriptionArn"])
    return [
        topics,
        [_quiet(sns.list_tags_for_resource, ResourceArn=arn) for arn in topics],
        [(s["SubscriptionArn"], _quiet(sns.get_subscription_attributes, SubscriptionArn=s["SubscriptionArn"]))
         for s in subscriptions if s["SubscriptionArn"].startswith("arn:")],
    ]


def _sqs(ctx) -> list:
    sqs = ctx.client("sqs")
    urls = sorted(u for u in sqs.list_queues().get("QueueUrls", []) if "lab-probe-" not in u)
    state = []
    for url in urls:
        attributes = _quiet(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        state.append((url, {k: v for k, v in attributes.items() if not k.startswith("ApproximateNumber")}))
    return state


def _dynamodb(ctx) -> list:
    dynamodb = ctx.client("dynamodb")
    tables = sorted(dynamodb.list_tables().get("TableNames", []))
    return [(name, _quiet(dynamodb.describe_table, TableName=name)) for name in tables]


def _s3(ctx) -> list:
    s3 = ctx.client("s3")
    state = []
    for bucket in sorted(b["Name"] for b in s3.list_buckets().get("Buckets", [])):
        state.append((
            bucket,
            _quiet(s3.get_bucket_policy, Bucket=bucket),
            _quiet(s3.get_bucket_encryption, Bucket=bucket),
            _quiet(s3.get_public_access_block, Bucket=bucket),
            _quiet(s3.get_bucket_ownership_controls, Bucket=bucket),
        ))
    return state


def _cloudwatch(ctx) -> list:
    alarms = _quiet(ctx.client("cloudwatch").describe_alarms)
    for alarm in alarms.get("MetricAlarms", []):
        for volatile in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                         "StateTransitionedTimestamp"):
            alarm.pop(volatile, None)
    return [alarms]


def _autoscaling(ctx) -> list:
    autoscaling = ctx.client("autoscaling")
    groups = _quiet(autoscaling.describe_auto_scaling_groups)
    for group in groups.get("AutoScalingGroups", []):
        group.pop("Instances", None)  # the fleet moves on its own
    return [groups, _quiet(autoscaling.describe_policies)]


def _cloudformation(ctx) -> list:
    stacks = _quiet(ctx.client("cloudformation").describe_stacks).get("Stacks", [])
    return [(s["StackName"], s["StackStatus"]) for s in stacks]


def _kms(ctx) -> list:
    return [_quiet(ctx.client("kms").list_aliases)]


def _ec2(ctx) -> list:
    ec2 = ctx.client("ec2")
    return [_quiet(ec2.describe_launch_templates), _quiet(ec2.describe_vpc_endpoints)]


SERVICES: dict[str, Callable] = {
    "sns": _sns,
    "sqs": _sqs,
    "dynamodb": _dynamodb,
    "s3": _s3,
    "cloudwatch": _cloudwatch,
    "autoscaling": _autoscaling,
    "cloudformation": _cloudformation,
    "kms": _kms,
    "ec2": _ec2,
}


def workspace_state(ctx) -> list:
    if not ctx.workspace.is_dir():
        return []
    return sorted(
        (str(path.relative_to(ctx.workspace)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in ctx.workspace.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def fingerprint(ctx, checker) -> str:
    """A digest that changes when anything a check could observe changes."""
    if getattr(checker, "fingerprint_fn", None):
        parts = [checker.fingerprint_fn(ctx)]
    else:
        parts = [SERVICES[service](ctx) for service in ctx.lab.spec.services if service in SERVICES]
    parts.append(workspace_state(ctx))
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
