#!/usr/bin/env bash
# The demo: the autoscaler against local AWS emulators, no AWS account needed: moto for
# Kinesis and SNS, LocalStack core for CloudWatch (current CloudWatch SDKs speak its CBOR
# protocol, which moto does not).
# A 1-shard stream is wired, its scale-up alarm fires, the stream doubles and both alarms are
# rewritten for 2 shards; then reconcile finds nothing to fix, and two weeks of traffic from
# traces/ are replayed through the same policy, with a chart.
#
# Leaves nothing behind but the chart: the event file and the emulators' logs live in a temporary
# folder, removed on exit; kept (and named) only when the demo fails.
# KINESIS_AUTOSCALER_BIN=PATH runs that binary instead of building one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
if [ -n "${KINESIS_AUTOSCALER_BIN:-}" ]; then
  BIN="$KINESIS_AUTOSCALER_BIN"
else
  echo "==> building kinesis-autoscaler" >&2
  cargo build --quiet
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/kinesis-autoscaler"
fi
WORK=$(mktemp -d -t kinesis-autoscaler-demo.XXXXXX)
MOTO_LOG="$WORK/moto.log"
LOCALSTACK_LOG="$WORK/localstack.log"
finish() {
  local status=$?
  stop_emulators
  if [ "$status" = 0 ]; then
    rm -rf "$WORK"
  else
    echo "demo failed (exit $status); the emulators' logs and the event are kept in $WORK" >&2
  fi
}
start_emulators
# After start_emulators, whose own EXIT trap only stops the emulators.
trap finish EXIT
PY="$VENV/bin/python"
STREAM=orders
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi

step "A provisioned stream with 1 shard, and the SNS topic that will invoke the Lambda"
TOPIC=$("$PY" - "$STREAM" <<'PY'
import sys, boto3
stream = sys.argv[1]
boto3.client("kinesis").create_stream(StreamName=stream, ShardCount=1)
print(boto3.client("sns").create_topic(Name="kinesis-autoscaler")["TopicArn"])
PY
)
echo "stream $STREAM, topic $TOPIC"

step "kinesis-autoscaler wire $STREAM   (creates $STREAM-scale-up and $STREAM-scale-down)"
"$BIN" wire "$STREAM" --topic-arn "$TOPIC" --max-shards 8
step "wire again: idempotent"
"$BIN" wire "$STREAM" --topic-arn "$TOPIC"
step "kinesis-autoscaler status"
"$BIN" status

step "Traffic rises: CloudWatch puts $STREAM-scale-up in ALARM and SNS delivers this event"
EVENT="$WORK/scale-up-event.json"
"$PY" - "$STREAM" "$TOPIC" >"$EVENT" <<'PY'
import json, sys, datetime, boto3
stream, topic = sys.argv[1], sys.argv[2]
cloudwatch = boto3.client("cloudwatch")
# CloudWatch's side: the alarm goes to ALARM, then notifies. The handler acts only on an alarm
# that DescribeAlarms shows in ALARM, whatever the message claims.
cloudwatch.set_alarm_state(AlarmName=f"{stream}-scale-up", StateValue="ALARM",
                           StateReason="demo: 5 of 5 datapoints above the threshold")
alarm = cloudwatch.describe_alarms(AlarmNames=[f"{stream}-scale-up"])["MetricAlarms"][0]
now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
message = {
    "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"),
    "AWSAccountId": "123456789012", "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 5 out of the last 5 datapoints were greater than or equal to the threshold (0.75)",
    "StateChangeTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000",
    "Region": "US East (N. Virginia)", "AlarmArn": alarm["AlarmArn"], "OldStateValue": "OK",
    "Trigger": {"Period": 300, "EvaluationPeriods": alarm["EvaluationPeriods"],
                "ComparisonOperator": alarm["ComparisonOperator"], "Threshold": alarm["Threshold"],
                "TreatMissingData": "ignore", "EvaluateLowSampleCountPercentile": "",
                "Metrics": [{k: v for k, v in m.items()} for m in alarm["Metrics"]]},
}
for m in message["Trigger"]["Metrics"]:
    for d in m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
        d["name"], d["value"] = d.pop("Name"), d.pop("Value")
record = {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": topic + ":demo",
          "Sns": {"Type": "Notification", "MessageId": "demo-1", "TopicArn": topic, "Subject": "ALARM",
                  "Message": json.dumps(message), "Timestamp": now.isoformat(), "SignatureVersion": "1",
                  "Signature": "EXAMPLE", "SigningCertUrl": "EXAMPLE", "UnsubscribeUrl": "EXAMPLE"}}
print(json.dumps({"Records": [record]}, indent=2))
PY
step "kinesis-autoscaler handle --event scale-up-event.json   (the Lambda's code path)"
"$BIN" handle --event "$EVENT"
step "the same event delivered again: the alarm was reset after the reshard, so nothing changes"
"$BIN" handle --event "$EVENT" | "$PY" -c 'import json,sys; a=json.load(sys.stdin)["alarms"][0]; print(a["outcome"], "-", a["reason"])'

step "status after the scale event: 2 shards, both alarms rewritten for s1 = 2"
"$BIN" status
SHARDS=$("$BIN" status "$STREAM" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["streams"][0]["shards"])')
if [ "$SHARDS" != 2 ]; then
  echo "demo failed: $STREAM has $SHARDS open shards, expected 2" >&2
  exit 1
fi
"$PY" - "$STREAM" <<'PY'
import sys, boto3
for alarm in boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=sys.argv[1])["MetricAlarms"]:
    math = {m["Id"]: m.get("Expression") for m in alarm["Metrics"] if m.get("Expression")}
    print(f'{alarm["AlarmName"]:<20} {alarm["StateValue"]:<18} threshold {alarm["Threshold"]:<5} s1={math["s1"]}  e3={math["e3"]}')
PY

step "kinesis-autoscaler reconcile $STREAM: nothing drifted, nothing changed"
# Named, so the alarm tags are read with ListTagsForResource: the fleet form reads them in bulk
# from the Resource Groups Tagging API, which here is moto's and cannot see the alarms that
# LocalStack holds (in AWS one service sees both).
OUT=$("$BIN" reconcile "$STREAM")
echo "$OUT"
case "$OUT" in
  *"0 drift(s) fixed"*) ;;
  *) echo "demo: reconcile found drift right after a clean reshard" >&2; exit 1 ;;
esac

step "kinesis-autoscaler simulate: the same policy replayed over two weeks of real-shaped traffic"
# The demo's one output, overwritten by each run.
PLOT="${TMPDIR:-/tmp}/kinesis-autoscaler-demo.png"
"$BIN" simulate --trace traces/elb-requests.csv --plot "$PLOT"
echo
echo "Done: the emulator stops now."
