#!/usr/bin/env python3
"""Fleet benchmark (BENCHMARKS.md, "Fleet scale"): reconcile time for N wired streams and
burst time for M scale events, against moto behind scripts/aws_proxy.py enforcing AWS's
default per-account API quotas and adding a per-call latency. Run by scripts/bench-fleet.sh,
which starts moto and builds the binary; prints a Markdown section to stdout.

Set-up goes straight to moto (no quotas, no latency): N streams of 2 shards (one in ten
tagged AutoscalerMaxShards=64), the first wired with the binary's `wire` and the others given
copies of its alarms renamed (checked equal to what `wire` writes with `status`), then a share
of them resharded to 4 by hand (drift). Then, through the proxy:

- reconcile: one `kinesis-autoscaler reconcile --json` of the whole fleet;
- burst: M streams' scale-up alarms put in ALARM, and their M notifications handled by W
  workers at once, each a long-lived `handle` of its share of the events in order (as W
  warm Lambda containers reading an SQS FIFO queue grouped by stream), so no stream ever
  has two events in flight.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3

# AWS's default per-account quotas (calls a second); src/aws/paced.rs holds the same table.
QUOTAS = {
    "DescribeStreamSummary": 20, "ListStreams": 5, "ListTagsForStream": 5, "AddTagsToStream": 5,
    "RemoveTagsFromStream": 5, "DescribeLimits": 1, "UpdateShardCount": 10, "DescribeAlarms": 9,
    "PutMetricAlarm": 3, "SetAlarmState": 3, "ListTagsForResource": 10, "TagResource": 20,
    "DeleteAlarms": 3, "GetMetricData": 50, "GetResources": 5, "lambda": 15,
}
TOPIC = "arn:aws:sns:us-east-1:123456789012:kinesis-autoscaler"


def post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def get(url):
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


# CloudWatch on LocalStack (scripts/lib.sh's start_emulators), else moto.
CLOUDWATCH = os.environ.get("AWS_ENDPOINT_URL_CLOUDWATCH")
CLOUDWATCH_ROUTE = ["--route", f"monitoring={CLOUDWATCH}"] if CLOUDWATCH else []


def start_proxy(upstream):
    proxy = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "aws_proxy.py"), "--upstream", upstream, *CLOUDWATCH_ROUTE],
        stdout=subprocess.PIPE, text=True,
    )
    return proxy, proxy.stdout.readline().strip()


def clone_alarm(alarm, old, new):
    """PutMetricAlarm arguments for `alarm` (read back from moto) renamed from stream `old` to
    `new`: the definition `wire` writes for `new` at the same shard count."""
    def rename(value):
        return json.loads(json.dumps(value, default=str).replace(f'"{old}"', f'"{new}"').replace(f"{old}-scale-", f"{new}-scale-"))
    keys = ["AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
            "InsufficientDataActions", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
            "ComparisonOperator", "TreatMissingData", "Metrics"]
    args = {k: alarm[k] for k in keys if k in alarm}
    return rename(args)


def set_up(moto, binary, n, drift_every, env):
    """The first stream is wired by the binary; the others get copies of its alarms renamed
    (what `wire` writes at the same count, without its per-stream reads, which moto serves
    in time growing with the number of alarms)."""
    kinesis = boto3.client("kinesis", endpoint_url=moto)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=CLOUDWATCH or moto)
    names = [f"fleet-{i:05d}" for i in range(n)]
    for i, name in enumerate(names):
        kinesis.create_stream(StreamName=name, ShardCount=2)
        if i % 10 == 0:
            kinesis.add_tags_to_stream(StreamName=name, Tags={"AutoscalerMaxShards": "64"})
    subprocess.run([binary, "wire", "--topic-arn", TOPIC, "--json", names[0]],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    model = cloudwatch.describe_alarms(AlarmNames=[f"{names[0]}-scale-up", f"{names[0]}-scale-down"])["MetricAlarms"]
    tags = {a["AlarmName"]: cloudwatch.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"] for a in model}
    for name in names[1:]:
        for alarm in model:
            args = clone_alarm(alarm, names[0], name)
            args["Tags"] = [{"Key": t["Key"], "Value": t["Value"].replace(names[0], name)}
                            for t in tags[alarm["AlarmName"]]]
            cloudwatch.put_metric_alarm(**args)
    check = subprocess.run([binary, "status", "--json", names[-1]], env=env, capture_output=True, text=True)
    if '"drift": []' not in check.stdout:
        sys.exit(f"the copied alarms differ from what wire writes: {check.stdout[-1500:]}")
    drifted = names[::drift_every] if drift_every else []
    for name in drifted:
        kinesis.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    return names, drifted


def calls_by_action(log):
    calls, throttled = {}, {}
    for entry in log:
        calls[entry["action"]] = calls.get(entry["action"], 0) + 1
        if entry.get("fault") == "throttle":
            throttled[entry["action"]] = throttled.get(entry["action"], 0) + 1
    return calls, throttled


def floor_seconds(calls, throttled):
    """The time the quotas alone impose: the slowest API's answered calls over its quota."""
    worst = (0.0, "")
    for action, count in calls.items():
        count -= throttled.get(action, 0)
        key = "lambda" if action in ("PutFunctionConcurrency", "GetFunctionConcurrency") else action
        if key in QUOTAS:
            worst = max(worst, (count / QUOTAS[key], action))
    return worst


def reconcile(binary, proxy_url, env, n):
    post(f"{proxy_url}/_proxy/config", {"latency_ms": ARGS.latency_ms, "quotas": QUOTAS})
    started = time.time()
    out = subprocess.run([binary, "reconcile", "--json"],
                         env=dict(env, AWS_ENDPOINT_URL=proxy_url, RUST_LOG="info", NO_COLOR="1"),
                         capture_output=True, text=True)
    elapsed = time.time() - started
    if out.returncode not in (0, 1) or not out.stdout.strip():
        sys.exit(f"reconcile failed: {out.stderr[-2000:]}")
    report = json.loads(out.stdout)
    calls, throttled = calls_by_action(get(f"{proxy_url}/_proxy/log"))
    verdicts = {}
    for stream in report["streams"]:
        verdicts[stream["verdict"]] = verdicts.get(stream["verdict"], 0) + 1
    read = next((line.split("fleet read")[-1].strip() for line in out.stderr.splitlines() if "fleet read" in line), "")
    read_ms = next((int(f.split("=")[1]) for f in read.split() if f.startswith("elapsed_ms=")), 0)
    return elapsed, verdicts, calls, throttled, read_ms / 1000


def sns_event(alarms):
    records = []
    for alarm in alarms:
        message = {
            "AlarmName": alarm["AlarmName"], "AlarmArn": alarm["AlarmArn"], "NewStateValue": "ALARM",
            "OldStateValue": "OK", "NewStateReason": "bench",
            "StateChangeTime": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()),
            "Region": "US East (N. Virginia)", "AlarmDescription": None,
            "Trigger": {"Metrics": alarm["Metrics"]},
        }
        records.append({"EventSource": "aws:sns", "Sns": {
            "MessageId": alarm["AlarmName"], "TopicArn": TOPIC, "Subject": "ALARM",
            "Message": json.dumps(message, default=str), "Timestamp": "2026-01-01T00:00:00.000Z"}})
    return {"Records": records}


def burst(binary, moto, proxy_url, env, streams, workers):
    cloudwatch = boto3.client("cloudwatch", endpoint_url=CLOUDWATCH or moto)
    alarms = []
    for start in range(0, len(streams), 100):
        names = [f"{s}-scale-up" for s in streams[start:start + 100]]
        alarms.extend(cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"])
    for alarm in alarms:
        cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="ALARM", StateReason="bench")
    # Worker w takes events w, w+W, ...: each stream's event goes to exactly one worker.
    files = []
    for w in range(workers):
        handle, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w") as f:
            json.dump(sns_event(alarms[w::workers]), f, default=str)
        files.append(path)
    post(f"{proxy_url}/_proxy/config", {"latency_ms": ARGS.latency_ms, "quotas": QUOTAS})
    results = [None] * workers

    def work(w):
        results[w] = subprocess.run([binary, "handle", "--event", files[w]],
                                    env=dict(env, AWS_ENDPOINT_URL=proxy_url), capture_output=True, text=True)

    started = time.time()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    outcomes = {}
    for result in results:
        try:
            report = json.loads(result.stdout)
        except ValueError:
            sys.exit(f"handle failed: {result.stderr[-2000:]}")
        for alarm in report["alarms"]:
            outcome = alarm["outcome"] + (" with errors" if alarm.get("errors") else "")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    for path in files:
        os.unlink(path)
    calls, throttled = calls_by_action(get(f"{proxy_url}/_proxy/log"))
    return elapsed, outcomes, calls, throttled


def table(calls, throttled):
    rows = ["| API | calls | throttled | default quota /s |", "|---|---:|---:|---:|"]
    for action in sorted(calls):
        quota = QUOTAS.get("lambda" if "Concurrency" in action else action, "")
        rows.append(f"| {action} | {calls[action]} | {throttled.get(action, 0)} | {quota} |")
    return "\n".join(rows)


def main():
    moto = os.environ["AWS_ENDPOINT_URL"]
    env = dict(os.environ, RUST_LOG="warn")
    # The binary's calls all go through the proxy, which routes CloudWatch's on.
    env.pop("AWS_ENDPOINT_URL_CLOUDWATCH", None)
    proxy, proxy_url = start_proxy(moto)
    try:
        names, drifted = set_up(moto, ARGS.binary, ARGS.streams, ARGS.drift_every, dict(os.environ, RUST_LOG="warn", AWS_ENDPOINT_URL=moto))
        elapsed, verdicts, calls, throttled, read_s = reconcile(ARGS.binary, proxy_url, env, ARGS.streams)
        per_stream = elapsed / ARGS.streams
        floor, binding = floor_seconds(calls, throttled)
        print(f"### Reconcile of {ARGS.streams} streams ({len(drifted)} drifted), "
              f"{ARGS.latency_ms} ms a call, default quotas\n")
        print(f"- wall time: **{elapsed:.1f} s** ({per_stream * 1000:.1f} ms a stream); "
              f"extrapolated to 10,000 streams: **{per_stream * 10000 / 60:.1f} min**")
        print(f"- of which the bulk reads (alarms, stream list, tags, at once): {read_s:.1f} s")
        print(f"- verdicts: {json.dumps(verdicts, sort_keys=True)}; throttled calls: {sum(throttled.values())}")
        print(f"- quota floor of these calls: {floor:.1f} s ({binding})\n")
        print(table(calls, throttled))
        if ARGS.events:
            streams = [s for s in names if s not in drifted][: ARGS.events]
            elapsed, outcomes, calls, throttled = burst(ARGS.binary, moto, proxy_url, env, streams, ARGS.workers)
            floor, binding = floor_seconds(calls, throttled)
            print(f"\n### Burst of {len(streams)} scale-up events, {ARGS.workers} workers "
                  f"(per-stream FIFO), {ARGS.latency_ms} ms a call\n")
            print(f"- wall time: **{elapsed:.1f} s**; quota floor {floor:.1f} s ({binding}): "
                  f"**{elapsed / floor:.2f}x** the floor" if floor else f"- wall time {elapsed:.1f} s")
            print(f"- outcomes: {json.dumps(outcomes, sort_keys=True)}; throttled calls: {sum(throttled.values())}\n")
            print(table(calls, throttled))
    finally:
        proxy.terminate()
        proxy.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--drift-every", type=int, default=50, help="reshard one stream in this many by hand")
    parser.add_argument("--events", type=int, default=100, help="scale events in the burst (0: none)")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=20)
    ARGS = parser.parse_args()
    main()
