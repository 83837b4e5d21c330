#!/usr/bin/env python3
"""Checks a `report` page in headless Chromium (standard library only).

Usage: report_browser_check.py DIR [--screenshot PNG]

DIR holds report.html and report.json of the same run. Checks, with Chromium's networking
blocked: the page asks for nothing outside itself, it has one row per stream of the JSON, the
totals shown equal the JSON's, the rows start with the biggest savings, sorting by a column
works (a `#sort=KEY[-desc]` fragment runs the page's own sort, as a click on the heading does),
and Chromium logs no console message (a probe page proves such a message would be seen).
"""

import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Nothing may leave the machine: every host name fails and every proxied request too.
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
    "--enable-logging=stderr", "--v=0",
]


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("report_browser_check: chromium is not installed (apt-get install -y chromium)")


def run(url, *extra):
    """Chromium on `url`; (stdout, console lines from stderr)."""
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True, text=True, timeout=120, check=False,
        )
    if done.returncode != 0:
        sys.exit(f"chromium failed on {url} (exit {done.returncode}):\n{done.stderr}")
    console = [l for l in done.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    return done.stdout, console


class Page(html.parser.HTMLParser):
    """Rows per table (their stream names and cells' data-v) and the totals shown."""

    def __init__(self):
        super().__init__()
        self.table = None
        self.rows = {}
        self.cells = {}
        self.totals = {}
        self.sorted = {}
        self.keys = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
            self.rows[self.table] = []
            self.cells[self.table] = []
            self.keys = []
        elif tag == "th" and "data-key" in a:
            self.keys.append(a["data-key"])
            if "aria-sort" in a:
                self.sorted[self.table] = (a["data-key"], a["aria-sort"])
        elif tag == "tr" and a.get("class") == "stream":
            self.rows[self.table].append(a["data-stream"])
            self.cells[self.table].append({})
        elif tag == "td" and "data-v" in a and self.cells.get(self.table):
            row = self.cells[self.table][-1]
            row[self.keys[len(row)]] = a["data-v"]
        if "data-total" in a:
            self.totals[a["data-total"]] = float(a["data-value"])


def parse(dom):
    page = Page()
    page.feed(dom)
    return page


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def check(directory, screenshot):
    path = os.path.abspath(os.path.join(directory, "report.html"))
    with open(os.path.join(directory, "report.json")) as f:
        report = json.load(f)
    with open(path) as f:
        text = f.read()
    fail = []

    outside = re.findall(r'''(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import''', text, re.I)
    if outside or "<link" in text or re.search(r"<script[^>]*\bsrc", text):
        fail.append(f"the page refers to something outside it: {outside[:3]}")

    url = "file://" + path
    dom, console = run(url, "--dump-dom")
    page = parse(dom)
    streams, on_demand = report["streams"], report["on_demand_streams"]
    if sorted(page.rows.get("provisioned", [])) != sorted(s["stream"] for s in streams):
        fail.append(f"provisioned rows {len(page.rows.get('provisioned', []))} != {len(streams)} streams")
    if sorted(page.rows.get("on-demand", [])) != sorted(s["stream"] for s in on_demand):
        fail.append("the on-demand table does not list the JSON's on-demand streams")
    for key, shown in page.totals.items():
        value = report["totals"]
        for part in key.split("."):
            value = value[part]
        if not close(shown, value):
            fail.append(f"total {key}: page {shown}, JSON {value}")
    if len(page.totals) < 6:
        fail.append(f"only {len(page.totals)} totals on the page")
    savings = [float(c["savings"]) for c in page.cells["provisioned"]]
    if savings != sorted(savings, reverse=True):
        fail.append("the rows do not start with the biggest savings")
    if console:
        fail.append(f"console messages: {console[:5]}")

    for fragment, key, descending in (("#sort=stream", "stream", False), ("#sort=shards-desc", "shards", True)):
        dom, console = run(url + fragment, "--dump-dom")
        page = parse(dom)
        cells = page.cells["provisioned"]
        if key == "stream":
            got = [c[key] for c in cells]
            want = sorted(got)
        else:
            got = [float(c[key]) for c in cells]
            want = sorted(got, reverse=descending)
        if got != want or len(got) != len(streams):
            fail.append(f"sorting by {fragment} did not order the rows: {got[:6]}")
        expected = (key, "descending" if descending else "ascending")
        if page.sorted.get("provisioned") != expected:
            fail.append(f"{fragment}: the heading does not show the sort ({page.sorted})")
        if console:
            fail.append(f"{fragment}: console messages: {console[:5]}")

    # The console check can fail: a page that logs an error is seen.
    with tempfile.TemporaryDirectory(prefix="report-probe-") as probe_dir:
        probe = os.path.join(probe_dir, "probe.html")
        with open(probe, "w") as f:
            f.write("<html><body><script>console.error('probe-message')</script></body></html>")
        _, console = run("file://" + probe, "--dump-dom")
        if not any("probe-message" in l for l in console):
            fail.append("the console check saw no message from a page that logs one")

    if screenshot:
        run(url, f"--screenshot={os.path.abspath(screenshot)}", "--window-size=1400,900",
            "--hide-scrollbars")
    for line in fail:
        print(f"FAIL: {line}", file=sys.stderr)
    if fail:
        sys.exit(1)
    print(f"report page OK in Chromium: {len(streams)} provisioned and {len(on_demand)} on-demand "
          "rows, totals equal the JSON, sorting works, no console message, nothing fetched")


if __name__ == "__main__":
    args = sys.argv[1:]
    shot = None
    if "--screenshot" in args:
        i = args.index("--screenshot")
        shot = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    check(args[0], shot)
