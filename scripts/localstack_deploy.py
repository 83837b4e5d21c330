#!/usr/bin/env python3
"""Deploys template.yaml on LocalStack's CloudFormation, checks what it made, and deletes it.

Run by scripts/localstack-deploy.sh (which starts LocalStack and gives LOCALSTACK_URL), with
the Python of LocalStack's venv (boto3 comes with it). One stack per AlarmTrigger value, each
with a 40-character name. Checked on the deployed resources: the function (its fixed name,
log group, on-failure destination), its role's statements (the ReconcileCursor one names the
function), the topic policy, the rules, the log group's retention, the failed-events queue
and its alarm. LocalStack's free edition creates no dashboard and applies no reserved
concurrency: those are checked on the processed template CloudFormation ran.
"""

import io
import json
import os
import sys
import time
import zipfile

import boto3

URL = os.environ["LOCALSTACK_URL"]
REGION = "us-east-1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "kinesis-autoscaler-deploy-check"

# (AlarmTrigger, parameters beside it): reserved concurrency on and off, auto-wire once.
RUNS = [
    ("sns", {}),
    ("alarm-action", {"MaxConcurrentInvocations": "0", "ConsumerFunctionPrefix": "consumer-"}),
    ("eventbridge", {"AutoWireNewStreams": "true", "LogRetentionDays": "7", "Dashboard": "false"}),
]


def client(service):
    return boto3.client(
        service, endpoint_url=URL, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def stack_name(trigger):
    name = f"kinesis-autoscaler-deploy-check-{trigger}-"
    return (name + "x" * 40)[:40]


def upload_code():
    """A zip holding a `bootstrap` (never run: LocalStack creates the function only)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\nexit 0\n")
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="bootstrap.zip", Body=buffer.getvalue())
    return f"s3://{BUCKET}/bootstrap.zip"


def template_body(code_uri):
    with open(os.path.join(ROOT, "template.yaml"), encoding="utf-8") as f:
        text = f.read()
    if "      CodeUri: .\n" not in text:
        raise SystemExit("template.yaml: the function's `CodeUri: .` line moved; update this script")
    return text.replace("      CodeUri: .\n", f"      CodeUri: {code_uri}\n")


def wait_for(cloudformation, name, done, timeout_s=300):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        except cloudformation.exceptions.ClientError as err:
            if done == "DELETE_COMPLETE" and "does not exist" in str(err):
                return {"StackStatus": "DELETE_COMPLETE"}
            raise
        status = stack["StackStatus"]
        if status == done:
            return stack
        if status.endswith("_FAILED") or status.endswith("ROLLBACK_COMPLETE"):
            events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"]]
            raise SystemExit(f"{name}: {status}\n  " + "\n  ".join(reasons))
        time.sleep(1)
    raise SystemExit(f"{name}: not {done} after {timeout_s} s")


class Checks:
    def __init__(self, stack):
        self.stack = stack
        self.failures = []

    def that(self, ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            self.failures.append(f"{self.stack}: {what}")


def check_stack(name, trigger, parameters, stack, check):
    cloudformation, lambda_ = client("cloudformation"), client("lambda")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    uuid = stack["StackId"].split("/")[2]
    function = outputs.get("AutoscalerFunctionName")
    check.that(function == f"kinesis-autoscaler-{uuid}", f"function named by the stack's id: {function}")
    config = lambda_.get_function(FunctionName=function)["Configuration"]
    arn = config["FunctionArn"]
    check.that(config["Runtime"] == "provided.al2023" and config["Handler"] == "bootstrap", "provided.al2023, bootstrap")
    env = config["Environment"]["Variables"]
    check.that(env.get("SCALE_UP_THRESHOLD") == "0.75" and "MANAGED_STREAM_PREFIX" in env, "the Go Lambda's variables")
    wants_auto_wire = parameters.get("AutoWireNewStreams") == "true"
    check.that(bool(env.get("AUTO_WIRE_TOPIC_ARN")) == wants_auto_wire, f"AUTO_WIRE_TOPIC_ARN={env.get('AUTO_WIRE_TOPIC_ARN')!r}")
    log_group = (config.get("LoggingConfig") or {}).get("LogGroup")
    check.that(log_group == f"/aws/lambda/{function}", f"logs to its own group {log_group}")
    retention = parameters.get("LogRetentionDays", "30")
    groups = client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function}")["logGroups"]
    # LocalStack's CloudFormation creates the group but does not apply RetentionInDays: the
    # retention is checked below, on the processed template, unless LocalStack applied it.
    check.that([g["logGroupName"] for g in groups] == [log_group], f"one log group, {log_group}")
    applied = groups[0].get("retentionInDays") if groups else None

    queue_url = outputs.get("FailedEventsQueueUrl")
    queue_arn = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invoke = lambda_.get_function_event_invoke_config(FunctionName=function)
    destination = invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    check.that(destination == queue_arn, f"failed events go to {queue_arn}")
    check.that(invoke.get("MaximumRetryAttempts") == 0, "no async retry")
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{name}-kinesis-autoscaler-failed-events")["MetricAlarms"]
    dims = alarms[0]["Dimensions"] if alarms else []
    check.that(bool(alarms) and dims[0]["Value"] == queue_arn.split(":")[-1], "an alarm on the failed-events queue's depth")

    role_name = config["Role"].split("/")[-1]
    iam = client("iam")
    statements = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        statements += document["Statement"]
    by_sid = {s.get("Sid"): s for s in statements}
    cursor = by_sid.get("ReconcileCursor", {})
    check.that(cursor.get("Resource") == arn, f"ReconcileCursor names the function itself: {cursor.get('Resource')}")
    check.that(by_sid.get("KeepFailedEvents", {}).get("Resource") == queue_arn, "sqs:SendMessage on the failed-events queue")
    expected = {"ReshardManagedStreams", "ReadAlarms", "RewriteManagedAlarms", "AccountLevelKinesis", "ReadStreamMetrics"}
    expected |= {"ConsumerConcurrency"} if parameters.get("ConsumerFunctionPrefix") else set()
    expected |= {"AutoUnwireDeletedStreams"} if wants_auto_wire else set()
    check.that(expected <= set(by_sid), f"role statements {sorted(s for s in by_sid if s)}")
    check.that(("ConsumerConcurrency" in by_sid) == bool(parameters.get("ConsumerFunctionPrefix")), "consumer concurrency only with a prefix")

    topic = outputs.get("AutoscalerTopicArn")
    if trigger == "sns":
        policy = json.loads(client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
        publishers = [s for s in policy["Statement"] if s.get("Sid") == "AlarmsOfThisAccountPublish"]
        check.that(len(policy["Statement"]) == 1 and publishers and publishers[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"},
                   "topic policy: only this account's alarms publish")
        subscriptions = client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        check.that([s["Endpoint"] for s in subscriptions] == [arn], "the topic invokes the function")
    else:
        check.that(topic is None, "no topic")
    check.that(outputs.get("AlarmActionArn") == {"sns": topic, "alarm-action": arn, "eventbridge": "eventbridge"}[trigger],
               f"AlarmActionArn {outputs.get('AlarmActionArn')}")

    events = client("events")
    rules = [r for r in events.list_rules()["Rules"] if r["Name"].startswith(name[:20])]
    targets = {r["Name"]: [t["Arn"] for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]] for r in rules}
    patterns = [json.loads(r.get("EventPattern") or "{}") for r in rules]
    schedules = [r for r in rules if r.get("ScheduleExpression") == "rate(5 minutes)"]
    check.that(len(schedules) == 1, "the reconcile schedule")
    check.that(any(p.get("source") == ["aws.kinesis"] for p in patterns), "the stream-change rule")
    alarm_rules = [p for p in patterns if p.get("detail-type") == ["CloudWatch Alarm State Change"]]
    check.that(len(alarm_rules) == (trigger == "eventbridge"), "an alarm-state rule only for eventbridge")
    check.that(all(t == [arn] for t in targets.values()), "every rule targets the function")

    processed = cloudformation.get_template(StackName=name, TemplateStage="Processed")["TemplateBody"]
    if isinstance(processed, str):
        processed = json.loads(processed)
    resources = processed["Resources"]
    props = resources["AutoscalerFunction"]["Properties"]
    reserved = props.get("ReservedConcurrentExecutions")
    wants = parameters.get("MaxConcurrentInvocations", "10")
    condition = processed["Conditions"].get("ReservesConcurrency")
    check.that(reserved == {"Fn::If": ["ReservesConcurrency", {"Ref": "MaxConcurrentInvocations"}, {"Ref": "AWS::NoValue"}]}
               and condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "MaxConcurrentInvocations"}, 0]}]},
               f"reserved concurrency MaxConcurrentInvocations={wants}, none when 0 (processed template)")
    group = resources["AutoscalerLogGroup"]["Properties"]
    check.that(applied == int(retention) or (applied is None and group.get("RetentionInDays") == {"Ref": "LogRetentionDays"}),
               f"log group kept LogRetentionDays={retention} days (applied: {applied}; processed template)")
    dashboard = resources.get("AutoscalerDashboard", {})
    check.that(dashboard.get("Condition") == "HasDashboard" and "DashboardBody" in dashboard.get("Properties", {}),
               "the dashboard, in the processed template")
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    principal = {"sns": "sns.amazonaws.com", "alarm-action": "lambda.alarms.cloudwatch.amazonaws.com",
                 "eventbridge": "events.amazonaws.com"}[trigger]
    check.that(any(p.get("Principal") == principal for p in permissions), f"invoke permission for {principal}")
    return function


def main():
    started = time.time()
    code_uri = upload_code()
    body = template_body(code_uri)
    cloudformation, lambda_ = client("cloudformation"), client("lambda")
    failures = []
    for trigger, extra in RUNS:
        name = stack_name(trigger)
        parameters = dict(extra, AlarmTrigger=trigger)
        print(f"==> {name} (AlarmTrigger={trigger}, {extra or 'defaults'})", flush=True)
        t0 = time.time()
        cloudformation.create_stack(
            StackName=name, TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = wait_for(cloudformation, name, "CREATE_COMPLETE")
        print(f"  created in {time.time() - t0:.1f} s")
        check = Checks(name)
        function = check_stack(name, trigger, parameters, stack, check)
        t0 = time.time()
        cloudformation.delete_stack(StackName=name)
        wait_for(cloudformation, name, "DELETE_COMPLETE")
        gone = not any(f["FunctionName"] == function for f in lambda_.list_functions()["Functions"])
        check.that(gone, f"deleted in {time.time() - t0:.1f} s, function gone")
        failures += check.failures
    print(f"==> {len(RUNS)} stacks deployed, checked and deleted in {time.time() - started:.0f} s")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
