"""sqs-scaling, specified: fresh start fails every learner task, the reference
solution passes every task, re-checking changes nothing and leaves no trace, and
each wrong-but-plausible setup fails the right task with a message that helps."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from checkers import sqs_scaling as lab_checker
from checkers._support.sqs import queue_arn, queue_url
from labkit import catalog, emulator, session, workspace
from labkit.backends import EmulatorState
from labkit.grading import grade
from tests.labtools import check, context, learner_tasks, message, start, statuses

LAB = "sqs-scaling"
NOT_ON_LOCALSTACK = ("create-fleet", "publish-backlog", "scaling-policies", "backlog-alarms", "validate-scaling")


@pytest.fixture
def solved(lab_home):
    start(LAB, lab_home)
    session.solve_lab(LAB)
    return context(LAB)


# -- helpers that build the learner's (wrong) setups with boto3 --------------------------------
def policy_arn(ctx, name: str) -> str:
    policies = ctx.client("autoscaling").describe_policies(AutoScalingGroupName="ride-workers")["ScalingPolicies"]
    return next(p["PolicyARN"] for p in policies if p["PolicyName"] == name)


def put_alarm(ctx, name: str, **changes) -> None:
    """Put alarm `name` again, as the solution made it but with `changes`."""
    cloudwatch = ctx.client("cloudwatch")
    current = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    keys = ("AlarmName", "Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods",
            "Threshold", "ComparisonOperator", "AlarmActions", "ActionsEnabled")
    cloudwatch.put_metric_alarm(**{**{key: current[key] for key in keys}, **changes})


def put_steps(ctx, name: str, steps: list[dict]) -> None:
    """Put the policy again, then its alarm, as the README says (ministack mints a new ARN on every put)."""
    ctx.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName="ride-workers", PolicyName=name, PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", StepAdjustments=steps)
    alarm = "ride-jobs-backlog-high" if name.endswith("scale-out") else "ride-jobs-backlog-low"
    put_alarm(ctx, alarm, AlarmActions=[policy_arn(ctx, name)])


def set_ride_jobs(ctx, **attributes) -> None:
    sqs = ctx.client("sqs")
    sqs.set_queue_attributes(QueueUrl=queue_url(sqs, "ride-jobs"), Attributes=attributes)


def write(ctx, filename: str, source: str) -> None:
    (ctx.workspace / filename).write_text(source)


def visible_state(ctx) -> dict:
    """What a learner can see of this lab: queues (attributes and message counts), the group and its
    instances, policies, alarms with their state, EC2 instances, and RideWorkers metrics except the
    probe series each check leaves (CloudWatch cannot delete datapoints)."""
    sqs, autoscaling = ctx.client("sqs"), ctx.client("autoscaling")
    cloudwatch, ec2 = ctx.client("cloudwatch"), ctx.client("ec2")
    urls = sorted(sqs.list_queues().get("QueueUrls", []))
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["ride-workers"])["AutoScalingGroups"][0]
    metrics = cloudwatch.list_metrics(Namespace="RideWorkers")["Metrics"]
    return {
        "queues": {url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"] for url in urls},
        "group": {key: group[key] for key in ("MinSize", "MaxSize", "DesiredCapacity")},
        "group instances": sorted((i["InstanceId"], i["LifecycleState"]) for i in group["Instances"]),
        "activities": autoscaling.describe_scaling_activities(AutoScalingGroupName="ride-workers").get("Activities"),
        "policies": autoscaling.describe_policies(AutoScalingGroupName="ride-workers")["ScalingPolicies"],
        "alarms": cloudwatch.describe_alarms()["MetricAlarms"],
        "instances": sorted((i["InstanceId"], i["State"]["Name"]) for r in ec2.describe_instances()["Reservations"]
                            for i in r["Instances"]),
        "metrics": sorted(json.dumps(m, sort_keys=True) for m in metrics if "lab-probe-" not in json.dumps(m)),
    }


# -- fresh start, solution, no trace ----------------------------------------------------------
def test_fresh_start_fails_every_learner_task_with_its_own_message(lab_home):
    lab = start(LAB, lab_home)
    report = check(LAB)
    results = statuses(report)
    assert learner_tasks(lab) == list(results)
    assert all(status == "fail" for status in results.values()), results
    assert "No queue named ride-jobs yet" in message(report, "create-queues")
    assert "No launch template named ride-worker yet" in message(report, "create-fleet")
    assert "create it first (task create-fleet)" in message(report, "scaling-policies")
    assert "process_batch() is not implemented yet" in message(report, "worker")


def test_reference_solution_passes_and_rechecking_changes_nothing(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    sqs.send_message_batch(QueueUrl=queue_url(sqs, "ride-jobs"), Entries=[
        {"Id": str(n), "MessageBody": json.dumps({"jobId": f"learner-{n}", "seconds": 0})} for n in range(3)])
    sqs.send_message(QueueUrl=queue_url(sqs, "ride-jobs-dlq"), MessageBody=json.dumps({"jobId": "learner-dead"}))
    before = visible_state(ctx)

    first = check(LAB)
    assert all(task.status == "pass" for task in first.tasks), [(t.id, t.message) for t in first.tasks]
    second = check(LAB)
    assert [(t.id, t.status, t.message) for t in second.tasks] == [(t.id, t.status, t.message) for t in first.tasks]

    assert visible_state(ctx) == before  # no probe queue, no capacity change, no instance, no alarm state change
    assert "150 messages → 3 instances, 600 → 8, then 10" in message(first, "validate-scaling")
    assert "drained → 9 → 8 → 7 → 6 → 5 → 4 → 3 → 2 → 1 (MinSize)" in message(first, "validate-scaling")


def test_the_scaling_report_reads_the_real_backlog_and_changes_nothing(solved):
    ctx = solved
    sqs = ctx.client("sqs")
    url = queue_url(sqs, "ride-jobs")
    for start_at in range(0, 150, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"jobId": f"flood-{start_at + n}"})} for n in range(10)])
    before = visible_state(ctx)
    _, name, text = session.run_report(LAB, None)
    assert name == "scaling"
    assert "ride-jobs holds **150** visible messages" in text
    assert "ride-jobs-backlog-high (ALARM) invoked ride-workers-scale-out: +2" in text
    assert "One evaluation would move the fleet 1 → **3**" in text
    assert "| 600 | 8 → 10 | 10 |" in text
    assert visible_state(ctx) == before


# -- queues -------------------------------------------------------------------------------------------
def test_dlq_with_max_receive_count_zero_fails(solved, engine):
    ctx = solved
    dlq_arn = queue_arn(ctx.client("sqs"), queue_url(ctx.client("sqs"), "ride-jobs-dlq"))
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0})
    if engine == "ministack":  # ministack refuses it, like AWS: this setup cannot exist there
        with pytest.raises(ClientError, match="between 1 and 1000"):
            set_ride_jobs(ctx, RedrivePolicy=redrive)
        return
    set_ride_jobs(ctx, RedrivePolicy=redrive)
    report = check(LAB, "create-queues")
    assert statuses(report)["create-queues"] == "fail"
    assert "maxReceiveCount 0: a job must be received at least once" in message(report, "create-queues")


def test_queue_without_a_redrive_policy_fails(solved):
    set_ride_jobs(solved, RedrivePolicy="")
    report = check(LAB, "create-queues")
    assert statuses(report)["create-queues"] == "fail"
    assert "ride-jobs has no RedrivePolicy, so a job that always fails is retried forever" in message(
        report, "create-queues")


def test_redrive_to_the_wrong_queue_and_too_many_retries_fail(solved):
    ctx = solved
    other = ctx.client("sqs").create_queue(QueueName="ride-jobs-failed")["QueueUrl"]
    set_ride_jobs(ctx, RedrivePolicy=json.dumps({"deadLetterTargetArn": queue_arn(ctx.client("sqs"), other),
                                                 "maxReceiveCount": 3}))
    assert "sends failed jobs to arn:aws:sqs:us-east-1:" in message(check(LAB, "create-queues"), "create-queues")
    dlq_arn = queue_arn(ctx.client("sqs"), queue_url(ctx.client("sqs"), "ride-jobs-dlq"))
    set_ride_jobs(ctx, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 50}))
    assert "retried 50 times" in message(check(LAB, "create-queues"), "create-queues")


def test_short_visibility_timeout_and_short_polling_fail(solved):
    set_ride_jobs(solved, VisibilityTimeout="30")
    assert "VisibilityTimeout 30 s; a job takes up to 45 s" in message(check(LAB, "create-queues"), "create-queues")
    set_ride_jobs(solved, VisibilityTimeout="60", ReceiveMessageWaitTimeSeconds="0")
    assert "short polling" in message(check(LAB, "create-queues"), "create-queues")


# -- group ----------------------------------------------------------------------------------------------
def test_a_group_without_a_maximum_that_caps_the_flood_fails(solved):
    solved.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="ride-workers", MaxSize=50)
    report = check(LAB)
    assert "MinSize 1 and MaxSize 50; expected 1 and 10" in message(report, "create-fleet")
    assert statuses(report)["validate-scaling"] == "fail"


# -- publisher ------------------------------------------------------------------------------------------
PUBLISHER = '''
import boto3

def publish_backlog(queue_url, asg_name):
    sqs, cloudwatch = boto3.client("sqs"), boto3.client("cloudwatch")
    visible = int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
                  ["Attributes"]["ApproximateNumberOfMessages"])
    dims = [{"Name": "QueueName", "Value": QUEUE}]
    cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": dims, "Value": visible},
        {"MetricName": "BacklogPerInstance", "Dimensions": dims, "Value": visible}])
'''


def test_publisher_that_hardcodes_the_queue_name_fails(solved):
    write(solved, "publish_backlog.py", 'QUEUE = "ride-jobs"\nNAMESPACE = "RideWorkers"\n' + PUBLISHER)
    report = check(LAB, "publish-backlog")
    assert statuses(report)["publish-backlog"] == "fail"
    assert "published no ApproximateNumberOfMessagesVisible with the dimension QueueName=lab-probe-chk-" in message(
        report, "publish-backlog")
    assert "the last part of queue_url" in message(report, "publish-backlog")


def test_publisher_in_the_wrong_namespace_fails(solved):
    source = 'NAMESPACE = "AWS/SQS"\n' + PUBLISHER.replace("QUEUE}", 'queue_url.rsplit("/", 1)[-1]}')
    write(solved, "publish_backlog.py", source)
    report = check(LAB, "publish-backlog")
    assert "published ApproximateNumberOfMessagesVisible to namespace AWS/SQS (AWS rejects custom data in AWS/ " \
           "namespaces); expected RideWorkers" in message(report, "publish-backlog")


def test_publisher_with_an_extra_dimension_fails(solved):
    source = 'NAMESPACE = "RideWorkers"\n' + PUBLISHER.replace(
        '"Value": QUEUE}]', '"Value": queue_url.rsplit("/", 1)[-1]}, {"Name": "AutoScalingGroupName", "Value": asg_name}]')
    write(solved, "publish_backlog.py", source)
    report = check(LAB, "publish-backlog")
    assert "AutoScalingGroupName=ride-workers; expected only QueueName=lab-probe-chk-" in message(report, "publish-backlog")


def test_publisher_that_reads_the_in_flight_count_fails(solved):
    source = ('NAMESPACE = "RideWorkers"\n' + PUBLISHER.replace("QUEUE}", 'queue_url.rsplit("/", 1)[-1]}')
              .replace('AttributeNames=["ApproximateNumberOfMessages"]', 'AttributeNames=["All"]')
              .replace('["Attributes"]["ApproximateNumberOfMessages"]',
                       '["Attributes"]["ApproximateNumberOfMessagesNotVisible"]'))
    write(solved, "publish_backlog.py", source)
    report = check(LAB, "publish-backlog")
    assert ("published ApproximateNumberOfMessagesVisible = 0; expected 7 (the probe queue held 7 visible messages"
            in message(report, "publish-backlog"))


# -- step policies -------------------------------------------------------------------------------------
def test_overlapping_steps_fail(solved):
    put_steps(solved, "ride-workers-scale-out", [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 500, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 400, "ScalingAdjustment": 5}])
    report = check(LAB, "scaling-policies")
    assert statuses(report)["scaling-policies"] == "fail"
    assert "overlap from 400 to 500 above the threshold (500–600 messages)" in message(report, "scaling-policies")


def test_steps_with_a_gap_fail(solved):
    put_steps(solved, "ride-workers-scale-out", [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 300, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 400, "ScalingAdjustment": 5}])
    report = check(LAB, "scaling-policies")
    assert "nothing covers 300 to 400 above the threshold (400–500 messages)" in message(report, "scaling-policies")


def test_steps_written_as_message_counts_fail(solved):
    put_steps(solved, "ride-workers-scale-out", [
        {"MetricIntervalLowerBound": 100, "MetricIntervalUpperBound": 500, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 500, "ScalingAdjustment": 5}])
    report = check(LAB, "scaling-policies")
    assert "a breach of 0 to 100 above the threshold (100–200 messages) matches no step" in message(
        report, "scaling-policies")


def test_steps_without_an_open_ended_top_fail(solved):
    put_steps(solved, "ride-workers-scale-out", [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 400, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 400, "MetricIntervalUpperBound": 900, "ScalingAdjustment": 5}])
    report = check(LAB, "scaling-policies")
    assert "the highest step stops at 900 above the threshold (1000 messages)" in message(report, "scaling-policies")


def test_sound_steps_with_the_wrong_sizes_fail(solved):
    put_steps(solved, "ride-workers-scale-out", [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 500, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 500, "ScalingAdjustment": 5}])
    report = check(LAB)
    assert ("At 500 messages (400 above the threshold 100) ride-workers-scale-out would change the fleet by +2; "
            "expected +5") in message(report, "scaling-policies")
    # the replay samples 150, 600, 75 and 0 messages; the boundary at 500 is the policy task's to check
    assert statuses(report)["validate-scaling"] == "pass"


# -- alarms ----------------------------------------------------------------------------------------------
def test_alarm_on_the_wrong_metric_fails(solved):
    put_alarm(solved, "ride-jobs-backlog-high", MetricName="ApproximateNumberOfMessagesNotVisible")
    report = check(LAB)
    assert statuses(report)["backlog-alarms"] == "fail"
    assert ("ride-jobs-backlog-high watches ApproximateNumberOfMessagesNotVisible, which counts jobs already being "
            "worked on") in message(report, "backlog-alarms")
    assert statuses(report)["validate-scaling"] == "fail"
    assert "the fleet went 1 → 1; expected 3" in message(report, "validate-scaling")
    assert "ride-jobs-backlog-high INSUFFICIENT_DATA" in message(report, "validate-scaling")


def test_alarm_on_the_wrong_queue_fails(solved):
    put_alarm(solved, "ride-jobs-backlog-low", Dimensions=[{"Name": "QueueName", "Value": "ride-jobs-dlq"}])
    report = check(LAB)
    assert ("ride-jobs-backlog-low watches ApproximateNumberOfMessagesVisible for QueueName=ride-jobs-dlq "
            "(ride-jobs-dlq holds failed jobs, not the backlog)") in message(report, "backlog-alarms")
    assert "expected 1 (-1 per minute from ride-workers-scale-in" in message(report, "validate-scaling")


def test_reversed_comparison_operator_fails(solved):
    put_alarm(solved, "ride-jobs-backlog-high", ComparisonOperator="LessThanThreshold")
    report = check(LAB)
    assert ("ride-jobs-backlog-high uses LessThanThreshold: it would be in ALARM while the queue is nearly empty"
            in message(report, "backlog-alarms"))
    assert "ride-jobs-backlog-high OK (Average 150 does not breach < 100)" in message(report, "validate-scaling")


def test_scale_in_policy_wired_to_the_high_alarm_fails(solved):
    put_alarm(solved, "ride-jobs-backlog-high", AlarmActions=[policy_arn(solved, "ride-workers-scale-in")])
    report = check(LAB)
    assert ("ride-jobs-backlog-high invokes ride-workers-scale-in: this alarm must scale out"
            in message(report, "backlog-alarms"))
    assert ("ride-jobs-backlog-high (ALARM) invoked ride-workers-scale-in: no step covers 150"
            in message(report, "validate-scaling"))


def test_alarm_left_on_an_old_policy_arn_fails(solved):
    current = policy_arn(solved, "ride-workers-scale-out")
    old = current.replace(current.split(":")[6], "0badc0de-0000-4000-8000-000000000000")
    put_alarm(solved, "ride-jobs-backlog-high", AlarmActions=[old])
    report = check(LAB)
    assert f"ride-jobs-backlog-high invokes an old ARN of ride-workers-scale-out ({old})" in message(
        report, "backlog-alarms")
    assert ("Also: ride-jobs-backlog-high invokes an old ARN of ride-workers-scale-out, which invokes nothing"
            in message(report, "validate-scaling"))


def test_alarm_with_actions_disabled_fails(solved):
    put_alarm(solved, "ride-jobs-backlog-high", ActionsEnabled=False)
    report = check(LAB)
    assert "has its actions disabled" in message(report, "backlog-alarms")
    assert "no scaling policy was invoked" in message(report, "validate-scaling")


def test_alarm_with_a_threshold_of_500_fails(solved):
    put_alarm(solved, "ride-jobs-backlog-high", Threshold=500)
    report = check(LAB)
    assert "Threshold 500; expected 100 messages (the scale-out steps are offsets from it)" in message(
        report, "backlog-alarms")


# -- worker -----------------------------------------------------------------------------------------------
WORKER_HEAD = "import json\nimport boto3\n\n"


def worker(body: str) -> str:
    return WORKER_HEAD + "def process_batch(queue_url, handler=None):\n    sqs = boto3.client('sqs')\n" \
        "    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get('Messages', [])\n" \
        "    done = 0\n    for m in messages:\n" + body + "    return done\n"


def test_worker_that_deletes_before_processing_fails(solved):
    write(solved, "worker.py", worker(
        "        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m['ReceiptHandle'])\n"
        "        try:\n            handler(json.loads(m['Body']))\n            done += 1\n"
        "        except Exception:\n            pass\n"))
    report = check(LAB, "worker")
    assert statuses(report)["worker"] == "fail"
    assert "process_batch() deletes a message before the handler has processed it" in message(report, "worker")


def test_worker_that_stops_at_a_failing_job_fails(solved):
    write(solved, "worker.py", worker(
        "        handler(json.loads(m['Body']))\n"
        "        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m['ReceiptHandle'])\n        done += 1\n"))
    report = check(LAB, "worker")
    text = message(report, "worker")
    assert text.startswith("process_batch() raised RuntimeError: probe job chk-")
    assert "-fails failed on purpose (worker.py line 9): a job whose handler raises must not stop the batch" in text


def test_worker_that_chokes_on_a_message_that_is_not_json_fails(solved):
    write(solved, "worker.py", worker(
        "        job = json.loads(m['Body'])\n"
        "        try:\n            handler(job)\n        except Exception:\n            continue\n"
        "        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m['ReceiptHandle'])\n        done += 1\n"))
    report = check(LAB, "worker")
    assert "process_batch() raised JSONDecodeError" in message(report, "worker")
    assert "a message that is not JSON (a poison message) must not stop the batch" in message(report, "worker")


def test_worker_that_drops_failed_jobs_fails(solved):
    write(solved, "worker.py", worker(
        "        try:\n            handler(json.loads(m['Body']))\n            done += 1\n"
        "        except Exception:\n            pass\n"
        "        finally:\n            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m['ReceiptHandle'])\n"))
    report = check(LAB, "worker")
    assert "deleted the job whose handler raised" in message(report, "worker")


def test_worker_that_never_deletes_fails(solved):
    write(solved, "worker.py", worker(
        "        try:\n            handler(json.loads(m['Body']))\n            done += 1\n"
        "        except Exception:\n            pass\n"))
    report = check(LAB, "worker")
    assert "but did not delete its message, so it would be processed again" in message(report, "worker")


def test_worker_that_passes_the_raw_message_fails(solved):
    write(solved, "worker.py", worker(
        "        try:\n            handler(m)\n            done += 1\n        except Exception:\n            continue\n"
        "        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m['ReceiptHandle'])\n"))
    report = check(LAB, "worker")
    assert "called handler() with the SQS message; expected the job" in message(report, "worker")


# -- backends without Auto Scaling, reset --------------------------------------------------------------
def test_without_auto_scaling_the_queues_and_the_worker_are_still_graded(lab_home, monkeypatch):
    """LocalStack community has no Auto Scaling: solve, check and reset do what it can host, and
    touch Auto Scaling nowhere."""
    start(LAB, lab_home)
    lab = catalog.get(LAB)
    ctx = session.make_context(lab, EmulatorState(backend="localstack", url=emulator.current_state().url))
    real_client = ctx.factory.client

    def client(service, region=None):
        assert service != "autoscaling", "Auto Scaling was used on a backend without it"
        return real_client(service, region)

    monkeypatch.setattr(ctx.factory, "client", client)
    checker = lab.checker()
    workspace.install_solution(lab)
    checker.solve_fn(ctx)
    report = grade(lab, checker, ctx)
    results = statuses(report)
    assert results["create-queues"] == results["worker"] == "pass", [(t.id, t.message) for t in report.tasks]
    for task in NOT_ON_LOCALSTACK:
        assert results[task] == "error"
        assert "the localstack backend cannot host this task" in message(report, task)
        assert "Auto Scaling" in message(report, task)
    checker.cleanup_fn(ctx)
    assert lab_checker.read_queues(ctx).url is None


def test_reset_removes_the_lab_and_its_probes(solved):
    check(LAB)
    session.reset_lab(LAB)
    ctx = context(LAB)
    assert lab_checker.read_fleet(ctx).group is None
    assert lab_checker.read_queues(ctx).url is None
    assert not [name for name in lab_checker.read_alarms(ctx) if name.startswith("ride-jobs")]
    assert not [u for u in ctx.client("sqs").list_queues().get("QueueUrls", []) if "lab-probe-" in u]


def test_worker_that_ignores_the_handler_it_is_given_fails(solved):
    write(solved, "worker.py", worker(
        "        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m['ReceiptHandle'])\n        done += 1\n"))
    report = check(LAB, "worker")
    assert "process_batch() never called the handler it was given" in message(report, "worker")


def test_publisher_that_does_not_divide_by_the_fleet_fails(solved):
    # With one InService instance this publisher looks right; the check shows it a bigger fleet.
    solution = (solved.lab.folder / "solution" / "publish_backlog.py").read_text()
    assert "visible / max(in_service, 1)" in solution
    write(solved, "publish_backlog.py", solution.replace("visible / max(in_service, 1)", "visible"))
    report = check(LAB, "publish-backlog")
    assert statuses(report)["publish-backlog"] == "fail"
    assert "BacklogPerInstance = 7; expected 1.75 (7 visible messages / 4 InService" in message(report, "publish-backlog")


def test_publisher_check_leaves_the_real_group_alone(solved):
    assert statuses(check(LAB, "publish-backlog"))["publish-backlog"] == "pass"
    group = solved.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["ride-workers"])["AutoScalingGroups"][0]
    assert len(group["Instances"]) == 1  # the stand-in fleet was only ever shown to the learner's code
