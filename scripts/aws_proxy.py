#!/usr/bin/env python3
"""A loopback HTTP proxy in front of moto that counts AWS calls, adds latency and injects faults.

Used by the fault-matrix tests and the latency benchmark; standard library only.

    aws_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--allow ACTION,ACTION,...]
                 [--route SIGNING_NAME=URL ...]

With --route monitoring=URL, calls signed for that service (CloudWatch signs as `monitoring`)
go to URL instead of the upstream: one endpoint in front of moto and LocalStack, for a
client that takes a single `--endpoint-url`.

It prints its own URL on the first line of stdout, then serves until killed. Point
AWS_ENDPOINT_URL at it. Control it over HTTP on the same port:

    POST /_proxy/config  {"latency_ms": 50, "faults": [{"action": "UpdateShardCount",
                          "nth": 1, "kind": "throttle"}]}   (replaces config, clears the log)
    GET  /_proxy/log     [{"action": ..., "start": s, "end": s, "status": 200, "fault": null}]

With "updating_s": S in the config, the proxy plays what moto does not: a reshard takes S
seconds, during which the stream's DescribeStreamSummary says UPDATING and another
UpdateShardCount for it is refused with ResourceInUseException, as AWS does.

With "quotas": {"DescribeAlarms": 9, ...} (calls a second, per account, as AWS's default
quotas), a call beyond its action's quota is throttled as AWS throttles it (a token bucket
holding one second of calls). Lambda's control-plane calls count against "lambda".

GetResources (Resource Groups Tagging API) for `kinesis:stream` is answered by the proxy, as
moto's tagging API does not list Kinesis streams: on a first page it reads every stream's tags
from moto (ListStreams, ListTagsForStream; uncounted), adds what moto answers for the other
resource types, and serves the list in pages of ResourcesPerPage.

With "names_only_listing": true, ListStreams answers StreamNames without StreamSummaries, as
kinesis-mock (LocalStack's Kinesis) does.

With --allow (or "allow": [...] in the config), the proxy plays IAM with an allow-list: a call
whose action is not listed (IAM form `kinesis:DescribeLimits` or bare `DescribeLimits`) is
answered AccessDenied without reaching moto, as AWS answers a role that lacks the permission.

Fault kinds: throttle, http500, timeout (hold the request, then close without answering),
drop_response (forward, then close without answering: the call took effect but the caller
cannot know), LimitExceeded, ResourceInUse, AccessDenied. A fault applies to the nth call
(1-based) of that action since the last config, once.
"""

import argparse
import concurrent.futures
import http.client
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_LOCK = threading.Lock()
STATE = {"allow": None, "names_only_listing": False, "quotas": {}, "buckets": {}, "pages": {}, "latency_ms": 0, "faults": [], "log": [], "counts": {}, "timeout_s": 15, "updating_s": 0, "resharding": {}}


def action_of(method, path, headers, body):
    rpc = re.match(r"^/service/[^/]+/operation/([A-Za-z]+)", path)
    if rpc:  # Smithy RPC v2 CBOR (CloudWatch)
        return rpc.group(1)
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocols (Kinesis): Kinesis_20131202.UpdateShardCount
        return target.split(".")[-1]
    if body and b"Action=" in body[:200]:  # query protocol (CloudWatch, IAM)
        fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return fields.get("Action", ["?"])[0]
    match = re.match(r"^/2017-10-31/functions/[^/]+/concurrency", path) or re.match(
        r"^/2019-09-30/functions/[^/]+/concurrency", path
    )
    if match:  # Lambda REST
        return {"PUT": "PutFunctionConcurrency", "DELETE": "DeleteFunctionConcurrency"}.get(
            method, "GetFunctionConcurrency"
        )
    return f"{method} {path.split('?')[0]}"


def stream_of(body):
    try:
        return json.loads(body or b"{}").get("StreamName")
    except ValueError:
        return None


def allow_list(actions):
    """The set of bare action names allowed; None (no list) allows everything."""
    if actions is None:
        return None
    return {a.split(":")[-1] for a in actions if a}


def signing_name(headers):
    """The service a call is signed for (`monitoring`, `kinesis`, ...), from its credential scope."""
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("Authorization") or "")
    return match.group(1) if match else None


def service_of(headers, body):
    if (headers.get("smithy-protocol") or "").lower() == "rpc-v2-cbor":
        return "cbor"
    if headers.get("X-Amz-Target"):
        return "json"
    if body and b"Action=" in body[:200]:
        return "query"
    return "rest"


def fault_response(kind, protocol):
    """(status, headers, body) for a refused call in the caller's protocol."""
    codes = {
        "throttle": (400, {"json": "LimitExceededException", "query": "Throttling", "rest": "TooManyRequestsException"}),
        "http500": (500, {"json": "InternalFailure", "query": "InternalFailure", "rest": "ServiceException"}),
        "LimitExceeded": (400, {"json": "LimitExceededException", "query": "LimitExceeded", "rest": "TooManyRequestsException"}),
        "ResourceInUse": (400, {"json": "ResourceInUseException", "query": "ResourceInUse", "rest": "ResourceConflictException"}),
        "AccessDenied": (400, {"json": "AccessDeniedException", "query": "AccessDenied", "rest": "AccessDeniedException"}),
    }
    status, by_protocol = codes[kind]
    by_protocol["cbor"] = by_protocol["query"]
    code = by_protocol[protocol]
    if kind == "throttle" and protocol == "rest":
        status = 429
    if kind == "AccessDenied" and protocol == "rest":
        status = 403
    message = f"injected {kind}"
    if protocol == "cbor":
        body = cbor_map({"__type": code, "message": message})
        return status, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, body
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
        ).encode()
        return status, {"Content-Type": "text/xml"}, body
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body


def cbor_map(fields):
    """A CBOR map of short text keys and values (all an error body needs), without a library."""

    def text(value):
        data = value.encode()
        if len(data) < 24:
            return bytes([0x60 + len(data)]) + data
        if len(data) < 256:
            return bytes([0x78, len(data)]) + data
        return bytes([0x79]) + len(data).to_bytes(2, "big") + data

    return bytes([0xA0 + len(fields)]) + b"".join(text(k) + text(v) for k, v in fields.items())


LAMBDA_ACTIONS = ("PutFunctionConcurrency", "DeleteFunctionConcurrency", "GetFunctionConcurrency", "GetFunction")


def take_token(action, now):
    """Whether the call fits its per-account quota (a token bucket of one second's calls).
    Holds STATE_LOCK."""
    key = "lambda" if action in LAMBDA_ACTIONS else action
    rate = STATE["quotas"].get(key)
    if not rate:
        return True
    tokens, last = STATE["buckets"].get(key, (max(rate, 1.0), now))
    tokens = min(max(rate, 1.0), tokens + (now - last) * rate)
    if tokens < 1.0:
        STATE["buckets"][key] = (tokens, now)
        return False
    STATE["buckets"][key] = (tokens - 1.0, now)
    return True


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ("127.0.0.1", 0)
    routes = {}

    def log_message(self, *args):  # quiet
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, headers, body):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self, body):
        if self.path == "/_proxy/config" and self.command == "POST":
            config = json.loads(body or b"{}")
            with STATE_LOCK:
                STATE["latency_ms"] = config.get("latency_ms", 0)
                STATE["faults"] = [dict(f, used=False) for f in config.get("faults", [])]
                STATE["timeout_s"] = config.get("timeout_s", 15)
                STATE["updating_s"] = config.get("updating_s", 0)
                STATE["quotas"] = config.get("quotas", {})
                STATE["buckets"] = {}
                STATE["pages"] = {}
                STATE["resharding"] = {}
                STATE["names_only_listing"] = bool(config.get("names_only_listing", False))
                if "allow" in config:
                    STATE["allow"] = allow_list(config["allow"])
                STATE["log"] = []
                STATE["counts"] = {}
            return self._reply(200, {"Content-Type": "application/json"}, b"{}")
        if self.path == "/_proxy/log":
            with STATE_LOCK:
                body = json.dumps(STATE["log"]).encode()
            return self._reply(200, {"Content-Type": "application/json"}, body)
        return self._reply(404, {}, b"unknown proxy control path")

    def _handle(self):
        body = self._body()
        if self.path.startswith("/_proxy/"):
            return self._control(body)
        start = time.time()
        action = action_of(self.command, self.path, self.headers, body)
        with STATE_LOCK:
            n = STATE["counts"].get(action, 0) + 1
            STATE["counts"][action] = n
            fault = next((f for f in STATE["faults"] if f["action"] == action and f["nth"] == n and not f["used"]), None)
            if fault:
                fault["used"] = True
            elif not take_token(action, start):
                fault = {"kind": "throttle"}
            latency = STATE["latency_ms"] / 1000.0
            timeout_s = STATE["timeout_s"]
            denied = STATE["allow"] is not None and action not in STATE["allow"]
        if latency:
            time.sleep(latency)
        kind = "AccessDenied" if denied else (fault["kind"] if fault else None)
        entry = {"action": action, "start": start, "fault": kind}
        if kind is None and action == "GetResources" and b"kinesis:stream" in body:
            payload = self._get_resources(json.loads(body or b"{}"))
            self._record(entry, 200)
            return self._reply(200, {"Content-Type": "application/x-amz-json-1.1"}, payload)
        if kind == "timeout":
            time.sleep(timeout_s)
            self._record(entry, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        stream = stream_of(body) if action in ("UpdateShardCount", "DescribeStreamSummary") else None
        with STATE_LOCK:
            updating = stream is not None and STATE["resharding"].get(stream, 0) > time.time()
            # Like AWS, the first UpdateShardCount to arrive makes the stream UPDATING at once.
            starts_reshard = action == "UpdateShardCount" and not updating and not kind and STATE["updating_s"]
            if starts_reshard:
                STATE["resharding"][stream] = time.time() + STATE["updating_s"]
        if kind is None and updating and action == "UpdateShardCount":
            kind = entry["fault"] = "ResourceInUse"
        if kind and kind != "drop_response":
            status, headers, payload = fault_response(kind, service_of(self.headers, body))
            self._record(entry, status)
            return self._reply(status, headers, payload)
        upstream = self.routes.get(signing_name(self.headers), self.upstream)
        conn = http.client.HTTPConnection(*upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        payload = answer.read()
        conn.close()
        if starts_reshard and answer.status != 200:
            with STATE_LOCK:
                STATE["resharding"].pop(stream, None)
        if updating and action == "DescribeStreamSummary" and answer.status == 200:
            summary = json.loads(payload)
            summary["StreamDescriptionSummary"]["StreamStatus"] = "UPDATING"
            payload = json.dumps(summary).encode()
        if action == "ListStreams" and answer.status == 200 and STATE["names_only_listing"]:
            listing = json.loads(payload)
            listing.pop("StreamSummaries", None)
            payload = json.dumps(listing).encode()
        if kind == "drop_response":
            self._record(entry, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._record(entry, answer.status)
        skip = ("transfer-encoding", "connection", "content-length", "keep-alive")
        self._reply(answer.status, {k: v for k, v in answer.getheaders() if k.lower() not in skip}, payload)

    def _moto(self, target, payload):
        """An uncounted JSON call to moto (the proxy's own reads)."""
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        service = "kinesis" if target.startswith("Kinesis") else "tagging"
        headers = {
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0",
        }
        conn.request("POST", "/", body=json.dumps(payload).encode(), headers=headers)
        answer = conn.getresponse()
        data = json.loads(answer.read() or b"{}")
        conn.close()
        return data

    def _get_resources(self, request):
        per_page = int(request.get("ResourcesPerPage") or 50)
        token = request.get("PaginationToken")
        if not token:
            resources = []
            names = self._moto("Kinesis_20131202.ListStreams", {"Limit": 100000}).get("StreamNames", [])
            def tags_of(name):
                return name, self._moto("Kinesis_20131202.ListTagsForStream", {"StreamName": name}).get("Tags", [])

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                for name, tags in pool.map(tags_of, names):
                    if tags:
                        arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{name}"
                        resources.append({"ResourceARN": arn, "Tags": tags})
            others = [t for t in request.get("ResourceTypeFilters", []) if t != "kinesis:stream"]
            next_token = None
            while others:
                query = {"ResourceTypeFilters": others, "ResourcesPerPage": 100}
                if next_token:
                    query["PaginationToken"] = next_token
                page = self._moto("ResourceGroupsTaggingAPI_20170126.GetResources", query)
                resources.extend(page.get("ResourceTagMappingList", []))
                next_token = page.get("PaginationToken")
                if not next_token:
                    break
            token = f"fleet-{time.time()}"
            with STATE_LOCK:
                STATE["pages"][token] = resources
            offset = 0
        else:
            token, _, offset = token.rpartition(":")
            offset = int(offset)
        with STATE_LOCK:
            resources = STATE["pages"].get(token, [])
        page = resources[offset : offset + per_page]
        answer = {"ResourceTagMappingList": page}
        if offset + per_page < len(resources):
            answer["PaginationToken"] = f"{token}:{offset + per_page}"
        return json.dumps(answer).encode()

    def _record(self, entry, status):
        entry.update(end=time.time(), status=status)
        with STATE_LOCK:
            STATE["log"].append(entry)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="moto's URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--allow", help="comma-separated allow-list of actions (IAM form or bare); others are AccessDenied")
    parser.add_argument("--route", action="append", default=[], metavar="SIGNING_NAME=URL",
                        help="send calls signed for this service (e.g. monitoring) to URL instead")
    args = parser.parse_args()
    for route in args.route:
        name, _, url = route.partition("=")
        parsed = urllib.parse.urlparse(url)
        Proxy.routes[name] = (parsed.hostname, parsed.port)
    if args.allow is not None:
        STATE["allow"] = allow_list(args.allow.split(","))
    upstream = urllib.parse.urlparse(args.upstream)
    Proxy.upstream = (upstream.hostname, upstream.port)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
