#!/usr/bin/env python3
"""Reaction time and footprint of the release binary (issue 6); standard library only.

Run by scripts/bench-reaction.sh, which starts moto, builds the release binary and exports
AWS_ENDPOINT_URL and test credentials. Measures:

- latency: `kinesis-autoscaler handle --event FILE` for a scale-up and a scale-down event, each
  on a fresh 4-shard stream wired with `kinesis-autoscaler wire`, through scripts/aws_proxy.py
  holding every AWS call for --latency-ms. Per event: process wall time, span of the proxied
  calls, number of calls, sequential rounds (calls whose [start, end] overlap form one round)
  in all and up to the round holding UpdateShardCount; medians of --repeats runs. Compared
  with the Go Lambda's sequential design on paper.
- cold start: process start -> first `GET /2018-06-01/runtime/invocation/next` on a fake Lambda
  Runtime API, --cold-starts times (median, p90).
- peak RSS: VmHWM of the Lambda process after one real invocation, and ru_maxrss of `handle`.
- binary size of the stripped release binary.

Prints a Markdown section ready for BENCHMARKS.md. Goals are reported as pass/miss; the
script never fails on them.
"""

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNT = "123456789012"
REGION = os.environ.get("AWS_REGION", "us-east-1")
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:kinesis-autoscaler"
FUNCTION_NAME = "kinesis-autoscaler-bench"

# The Go Lambda (aws-samples kinesis-auto-scaling) makes its calls one after another.
GO_CALLS = [
    "ListTagsForResource", "DescribeStreamSummary", "UpdateShardCount",
    "PutMetricAlarm", "SetAlarmState", "PutMetricAlarm", "SetAlarmState",
    "DescribeAlarms", "TagResource", "TagResource", "PutFunctionConcurrency",
]
GO_CALLS_TO_RESHARD = GO_CALLS.index("UpdateShardCount") + 1

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

GOALS = {
    "rounds_to_reshard": 3,  # at most
    "cold_start_ms": 30.0,  # below
    "binary_mb": 8.0,  # at most (the function's binary, issue 20)
    "rss_mb": 30.0,  # below
}


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---- AWS setup, straight to moto ----------------------------------------------------------

def kinesis_call(endpoint, action, body):
    """One Kinesis JSON-protocol call to moto (it does not check signatures)."""
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"Kinesis_20131202.{action}",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=testing/20261123/{REGION}/kinesis/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
    return json.loads(text) if text else {}


def create_stream(endpoint, name, shards):
    kinesis_call(endpoint, "CreateStream", {"StreamName": name, "ShardCount": shards})
    for _ in range(100):
        summary = kinesis_call(endpoint, "DescribeStreamSummary", {"StreamName": name})
        if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    raise RuntimeError(f"stream {name} did not become ACTIVE")


def fire_alarm(endpoint, alarm):
    """CloudWatch's side of an event, straight to the emulator (not timed, not through the proxy):
    the alarm goes to ALARM before it notifies, and the handler acts only on a confirmed one."""
    body = urllib.parse.urlencode({
        "Action": "SetAlarmState", "Version": "2010-08-01", "AlarmName": alarm,
        "StateValue": "ALARM", "StateReason": "bench: threshold crossed",
    }).encode()
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/", data=body, method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20261123/{REGION}/monitoring/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
    except urllib.error.HTTPError as err:
        # LocalStack sets the state, then fails the alarm's SNS action (it serves CloudWatch
        # only here): a 500 after the fact, which tests/common ignores too.
        if err.code != 500:
            raise


def open_shards(endpoint, name):
    summary = kinesis_call(endpoint, "DescribeStreamSummary", {"StreamName": name})
    return summary["StreamDescriptionSummary"]["OpenShardCount"]


def wire(binary, env, streams):
    """Writes each stream's alarm pair with the binary's own `wire` command."""
    out = subprocess.run(
        [binary, "wire", *streams, "--topic-arn", TOPIC_ARN],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"`wire` failed ({out.returncode}): {out.stderr.strip()}")


def alarm_arn(name):
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def alarm_event(alarm_name, stream):
    """An SNS event with one ALARM notification, as Lambda delivers it (tests/common)."""
    changed = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 0.001)) + ".000+0000"
    dims = [{"value": stream, "name": "StreamName"}]
    message = {
        "AlarmName": alarm_name,
        "AlarmDescription": "Alarm to scale Kinesis stream",
        "AWSAccountId": ACCOUNT,
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": changed,
        "Region": "US East (N. Virginia)",
        "AlarmArn": alarm_arn(alarm_name),
        "OldStateValue": "OK",
        "Trigger": {
            "Period": 300, "EvaluationPeriods": 5,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 0.75,
            "TreatMissingData": "ignore", "EvaluateLowSampleCountPercentile": "",
            "Metrics": [
                {"Id": "m1", "Label": "IncomingBytes", "ReturnData": False, "MetricStat": {"Metric": {"Dimensions": dims, "MetricName": "IncomingBytes", "Namespace": "AWS/Kinesis"}, "Period": 300, "Stat": "Sum"}},
                {"Id": "m2", "Label": "IncomingRecords", "ReturnData": False, "MetricStat": {"Metric": {"Dimensions": dims, "MetricName": "IncomingRecords", "Namespace": "AWS/Kinesis"}, "Period": 300, "Stat": "Sum"}},
                {"Id": "e6", "Expression": "MAX([e3,e4])", "Label": "MaxIncomingUsageFactor", "ReturnData": True},
            ],
        },
    }
    record = {
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC_ARN}:sub",
        "Sns": {
            "Type": "Notification", "MessageId": "message-0", "TopicArn": TOPIC_ARN,
            "Subject": "ALARM", "Message": json.dumps(message),
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertUrl": "EXAMPLE",
            "UnsubscribeUrl": "EXAMPLE", "MessageAttributes": {},
        },
    }
    return json.dumps({"Records": [record]})


# ---- the proxy ------------------------------------------------------------------------------

def cloudwatch_endpoint(env=os.environ):
    """Where CloudWatch is served (LocalStack, scripts/lib.sh's start_emulators), else moto."""
    return env.get("AWS_ENDPOINT_URL_CLOUDWATCH") or env["AWS_ENDPOINT_URL"]


def cloudwatch_route():
    """The proxy's route for CloudWatch calls to LocalStack, when it serves them."""
    url = os.environ.get("AWS_ENDPOINT_URL_CLOUDWATCH")
    return ["--route", f"monitoring={url}"] if url else []


class Proxy:
    def __init__(self, upstream):
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts", "aws_proxy.py"), "--upstream", upstream, *cloudwatch_route()],
            stdout=subprocess.PIPE, text=True,
        )
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the proxy did not print its URL: {self.url!r}")

    def configure(self, latency_ms):
        request = urllib.request.Request(
            self.url + "/_proxy/config", data=json.dumps({"latency_ms": latency_ms}).encode(),
            method="POST", headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).read()

    def log(self):
        with urllib.request.urlopen(self.url + "/_proxy/log", timeout=10) as answer:
            return sorted(json.loads(answer.read()), key=lambda c: c["start"])

    def stop(self):
        self.process.kill()
        self.process.wait()


def rounds(calls):
    """Groups calls (sorted by start) whose [start, end] overlap into sequential rounds."""
    groups, end = [], float("-inf")
    for call in calls:
        if call["start"] < end:
            groups[-1].append(call)
            end = max(end, call["end"])
        else:
            groups.append([call])
            end = call["end"]
    return groups


# ---- latency ------------------------------------------------------------------------------

def run_handle(binary, env, event_text):
    """Runs `handle --event FILE`; (wall seconds, exit status, ru_maxrss KiB, stdout)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(event_text)
        path = f.name
    try:
        out = tempfile.TemporaryFile()
        command = [binary, "handle", "--event", path]
        if TIME:
            # ru_maxrss of a child forked from this Python process starts at Python's own RSS
            # (exec carries the old high-water mark over), so let a tiny process fork it.
            command = [TIME, "-f", "%M", "-o", path + ".rss"] + command
        start = time.time()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.time() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        maxrss = usage.ru_maxrss
        if TIME:
            with open(path + ".rss") as f:
                maxrss = int(f.read().strip().splitlines()[-1])
        out.seek(0)
        return start, wall, process.returncode, maxrss, out.read().decode()
    finally:
        for leftover in (path, path + ".rss"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def bench_latency(args, binary, moto_env):
    proxy = Proxy(moto_env["AWS_ENDPOINT_URL"])
    proxied_env = dict(moto_env, AWS_ENDPOINT_URL=proxy.url)
    proxied_env.pop("AWS_ENDPOINT_URL_CLOUDWATCH", None)  # through the proxy too
    tag = f"bench-{os.getpid()}-{int(time.time())}"
    plan = [("up", f"{tag}-up-{i}") for i in range(args.repeats)]
    plan += [("down", f"{tag}-down-{i}") for i in range(args.repeats)]
    for _, stream in plan:
        create_stream(moto_env["AWS_ENDPOINT_URL"], stream, 4)
    wire(binary, moto_env, [stream for _, stream in plan])

    results = {"up": [], "down": []}
    try:
        for direction, stream in plan:
            alarm = f"{stream}-scale-{direction}"
            fire_alarm(cloudwatch_endpoint(moto_env), alarm)
            proxy.configure(args.latency_ms)  # also clears the log
            start, wall, code, maxrss, stdout = run_handle(binary, proxied_env, alarm_event(alarm, stream))
            calls = proxy.log()
            if code != 0:
                raise RuntimeError(f"handle {direction} on {stream} exited {code}: {stdout}")
            outcome = json.loads(stdout)["alarms"][0]
            if outcome["outcome"] != "scaled":
                raise RuntimeError(f"handle {direction} on {stream}: {outcome}")
            groups = rounds(calls)
            reshard_round = next(i for i, g in enumerate(groups) if any(c["action"] == "UpdateShardCount" for c in g))
            reshard = next(c for c in calls if c["action"] == "UpdateShardCount")
            first = calls[0]["start"]
            results[direction].append({
                "wall_ms": wall * 1000,
                "span_ms": (max(c["end"] for c in calls) - first) * 1000,
                "to_first_call_ms": (first - start) * 1000,
                "to_reshard_ms": (reshard["end"] - start) * 1000,
                "to_reshard_span_ms": (reshard["end"] - first) * 1000,
                "calls": len(calls),
                "actions": [c["action"] for c in calls],
                "rounds": len(groups),
                "rounds_to_reshard": reshard_round + 1,
                "round_actions": [sorted(c["action"] for c in g) for g in groups],
                "round_ms": [(max(c["end"] for c in g) - g[0]["start"]) * 1000 for g in groups],
                "call_ms": [(c["end"] - c["start"]) * 1000 for c in calls],
                "maxrss_kib": maxrss,
                "shards": (outcome["from"], outcome["to"], open_shards(moto_env["AWS_ENDPOINT_URL"], stream)),
            })
            log(f"  {direction:4} {stream}: {wall * 1000:.0f} ms, {len(calls)} calls, {len(groups)} rounds")
    finally:
        proxy.stop()
    return results


# ---- the fake Lambda Runtime API -----------------------------------------------------------

class FakeRuntime:
    """Serves `next`: records when it is first asked, hands out queued events, holds otherwise."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.startswith("/2018-06-01/runtime/invocation/next"):
                    return self._reply(404)
                now = time.perf_counter()
                with runtime.lock:
                    if runtime.first_next is None:
                        runtime.first_next = now
                        runtime.asked.set()
                    event = runtime.events.pop(0) if runtime.events else None
                    release = runtime.release
                if event is None:
                    release.wait(60)  # hold, as Lambda does between invocations
                    self.close_connection = True
                    return
                request_id, payload = event
                self._reply(200, payload.encode(), {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 300_000),
                    "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self._reply(202, b"{}")
                kind = self.path.rstrip("/").rsplit("/", 1)[-1]  # response | error
                with runtime.lock:
                    runtime.answers.append((kind, body.decode("utf-8", "replace")))
                    runtime.answered.set()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed Lambda process drops its held `next` request: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        with self.lock:
            old = getattr(self, "release", None)
            if old is not None:
                old.set()  # let held requests of the previous process go
            self.first_next = None
            self.asked = threading.Event()
            self.answered = threading.Event()
            self.release = threading.Event()
            self.events = []
            self.answers = []

    def stop(self):
        self.reset()
        self.server.shutdown()


def lambda_env(moto_env, runtime):
    env = dict(moto_env)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": runtime.address,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": REGION,
    })
    return env


def stop(process):
    process.kill()
    process.wait()


def bench_cold_start(args, binary, moto_env, runtime):
    env = lambda_env(moto_env, runtime)
    samples = []
    for i in range(args.cold_starts):
        runtime.reset()
        start = time.perf_counter()
        process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not runtime.asked.wait(10):
                raise RuntimeError(f"cold start {i}: no `next` request within 10 s (exit {process.poll()})")
            samples.append((runtime.first_next - start) * 1000)
        finally:
            stop(process)
    return samples


def bench_invocation_rss(binary, cli, moto_env, runtime):
    """VmHWM of the Lambda process after it has handled one real scale-up invocation."""
    endpoint = moto_env["AWS_ENDPOINT_URL"]
    stream = f"bench-{os.getpid()}-rss"
    create_stream(endpoint, stream, 4)
    wire(cli, moto_env, [stream])
    fire_alarm(cloudwatch_endpoint(moto_env), f"{stream}-scale-up")
    runtime.reset()
    runtime.events.append(("bench-request-1", alarm_event(f"{stream}-scale-up", stream)))
    process = subprocess.Popen([binary], env=lambda_env(moto_env, runtime), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not runtime.answered.wait(60):
            raise RuntimeError(f"the Lambda process did not answer the invocation (exit {process.poll()})")
        kind, body = runtime.answers[0]
        with open(f"/proc/{process.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        hwm_kib = int(status["VmHWM"].split()[0])
    finally:
        stop(process)
    if kind != "response":
        raise RuntimeError(f"the invocation failed: {kind} {body}")
    report = json.loads(body)
    outcome = report["alarms"][0]["outcome"]
    if outcome != "scaled" or open_shards(endpoint, stream) != 8:
        raise RuntimeError(f"the invocation did not scale: {body}")
    return hwm_kib


# ---- report ---------------------------------------------------------------------------------

def median(values):
    return statistics.median(values)


def p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-9 * len(ordered) // 10) - 1))]


def verdict(ok):
    return "pass" if ok else "**miss**"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, {platform.machine()}, load average {load} at the end"


def zipped_size(path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(path, "bootstrap")
    return buffer.tell()


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def mem(kib):
    return f"{kib / 1024:.1f} MiB ({kib * 1024 / 1e6:.1f} MB)"


def rss_ok(kib):
    return kib * 1024 < GOALS["rss_mb"] * 1e6


def function_rows(args, cold, rss_lambda_kib, size_bytes):
    """The function's own figures: cold start, peak RSS, size."""
    size_mb = size_bytes / 1_000_000
    cold_median, cold_p90 = median(cold), p90(cold)
    zipped = zipped_size(args.binary_path)
    return [
        f"| Cold start: process start → first `next` ({len(cold)} starts) | median {cold_median:.1f} ms, p90 {cold_p90:.1f} ms (min {min(cold):.1f}, max {max(cold):.1f}) | < {GOALS['cold_start_ms']:g} ms | {verdict(cold_median < GOALS['cold_start_ms'])} |",
        f"| Peak RSS, Lambda process after one scale-up invocation (VmHWM) | {mem(rss_lambda_kib)} | < {GOALS['rss_mb']:g} MB | {verdict(rss_ok(rss_lambda_kib))} |",
        f"| Binary `target/release/kinesis-autoscaler-lambda` (stripped, x86_64) | {size_bytes:,} bytes ({size_mb:.2f} MB, {size_bytes / 2**20:.2f} MiB) | ≤ {GOALS['binary_mb']:g} MB | {verdict(size_mb <= GOALS['binary_mb'])} |",
        f"| Binary zipped (deflate -9, as `bootstrap` in a Lambda deployment package) | {zipped:,} bytes ({zipped / 1e6:.1f} MB) | – | |",
    ]


def report(args, latency, cold, rss_lambda_kib, size_bytes):
    if latency is None:
        return "\n".join(["| Measure | Value | Goal | |", "| --- | --- | --- | --- |"]
                         + function_rows(args, cold, rss_lambda_kib, size_bytes))
    lat = args.latency_ms
    go_total = len(GO_CALLS) * lat
    go_reshard = GO_CALLS_TO_RESHARD * lat
    # The same rig's cost of one call (latency + proxy + moto), for Go's calls made one by one.
    # Measured on the calls that had a round to themselves (AddTagsToStream, UpdateShardCount).
    per_call = median([
        ms for d in ("up", "down") for r in latency[d]
        for group, ms in zip(r["round_actions"], r["round_ms"]) if len(group) == 1
    ])
    out = []
    out.append(f"Measured {time.strftime('%Y-%m-%d')} at commit {commit()} on {machine()}; moto behind `scripts/aws_proxy.py` "
               f"holding every AWS call {lat} ms; medians of {args.repeats} events per direction, each on a fresh 4-shard stream.")
    out.append("")
    out.append("| Event | AWS calls | Rounds (total) | Rounds to reshard | Process wall time | First→last call | Process start → UpdateShardCount returned | First call → UpdateShardCount returned |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for direction, label in (("up", "scale-up 4→8"), ("down", "scale-down 4→2")):
        runs = latency[direction]
        out.append(
            f"| {label} | {median([r['calls'] for r in runs]):g} | {median([r['rounds'] for r in runs]):g} "
            f"| {median([r['rounds_to_reshard'] for r in runs]):g} "
            f"| {median([r['wall_ms'] for r in runs]):.0f} ms | {median([r['span_ms'] for r in runs]):.0f} ms "
            f"| {median([r['to_reshard_ms'] for r in runs]):.0f} ms "
            f"| {median([r['to_reshard_span_ms'] for r in runs]):.0f} ms |"
        )
    out.append(
        f"| Go Lambda, on paper (sequential) | {len(GO_CALLS)} | {len(GO_CALLS)} | {GO_CALLS_TO_RESHARD} | – "
        f"| {go_total} ms at {lat} ms/call; ≈{len(GO_CALLS) * per_call:.0f} ms at this rig's {per_call:.0f} ms/call | – "
        f"| {go_reshard} ms; ≈{GO_CALLS_TO_RESHARD * per_call:.0f} ms |"
    )
    out.append("")
    for direction in ("up", "down"):
        first = latency[direction][0]
        out.append(f"Rounds of a scale-{direction} (first run, each with its duration): " + " → ".join(
            "{" + ", ".join(g) + f"}} {ms:.0f} ms" for g, ms in zip(first["round_actions"], first["round_ms"])) + ".")
        out.append("")
    out.append("Go's sequence (on paper, one call at a time): " + " → ".join(GO_CALLS) + f". A lone proxied call costs {per_call:.0f} ms "
               f"here (median of the one-call rounds): the {lat} ms injected plus the proxy and moto; the Go estimate above uses both figures. "
               "Rounds 4 and 5 (both PutMetricAlarm, then per alarm SetAlarmState and TagResource) are not synchronised "
               "between the two alarms, so they may overlap into one round.")
    out.append("")
    handle_rss = [r["maxrss_kib"] for d in ("up", "down") for r in latency[d]]
    rounds_worst = max(r["rounds_to_reshard"] for d in ("up", "down") for r in latency[d])
    out.append("| Measure | Value | Goal | |")
    out.append("| --- | --- | --- | --- |")
    out.append(f"| Time to reshard (worst run) | {rounds_worst} sequential rounds | ≤ {GOALS['rounds_to_reshard']} rounds | {verdict(rounds_worst <= GOALS['rounds_to_reshard'])} |")
    out.append(f"| Peak RSS, `handle` CLI ({'/usr/bin/time %M' if TIME else 'ru_maxrss, inflated by the forking Python'}; median of {len(handle_rss)}, max) | {mem(median(handle_rss))}; max {mem(max(handle_rss))} | < {GOALS['rss_mb']:g} MB | {verdict(rss_ok(max(handle_rss)))} |")
    out.extend(function_rows(args, cold, rss_lambda_kib, size_bytes))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "kinesis-autoscaler"),
                        help="the command line (wire, handle)")
    parser.add_argument("--lambda-binary", default=os.path.join(ROOT, "target", "release", "kinesis-autoscaler-lambda"),
                        help="the function (cold start, peak RSS, size)")
    parser.add_argument("--skip-latency", action="store_true", help="measure the function only")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold-starts", type=int, default=30)
    parser.add_argument("--json", metavar="FILE", help="also write the raw measurements here")
    args = parser.parse_args()
    if not os.environ.get("AWS_ENDPOINT_URL"):
        parser.error("AWS_ENDPOINT_URL (moto) is not set; run scripts/bench-reaction.sh")
    binary = os.path.abspath(args.binary)
    function = os.path.abspath(args.lambda_binary)
    args.binary_path = function
    moto_env = dict(os.environ)
    moto_env.pop("AWS_LAMBDA_RUNTIME_API", None)

    latency = None
    if not args.skip_latency:
        log(f"==> latency: {args.repeats} scale-ups and {args.repeats} scale-downs, {args.latency_ms} ms per call")
        latency = bench_latency(args, binary, moto_env)
    runtime = FakeRuntime()
    try:
        log(f"==> cold start: {args.cold_starts} starts")
        cold = bench_cold_start(args, function, moto_env, runtime)
        log("==> peak RSS after one invocation")
        rss = bench_invocation_rss(function, binary, moto_env, runtime)
    finally:
        runtime.stop()
    size = os.path.getsize(function)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"latency": latency, "cold_start_ms": cold, "lambda_vmhwm_kib": rss, "binary_bytes": size}, f, indent=1)
    print(report(args, latency, cold, rss, size))


if __name__ == "__main__":
    main()
