#!/usr/bin/env bash
# The `report` page in a real browser: builds a page of a 40-stream account (in process, on
# the fake, with examples/bench_report.rs) and checks it in headless Chromium with its
# networking blocked (scripts/report_browser_check.py: a row per stream, the totals equal the
# JSON, sorting works, no console message, nothing fetched). Installs Debian's chromium when
# it is missing and this runs as root (as CI does).
#   scripts/report-browser-test.sh [--screenshot docs/report.png]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "report-browser-test: chromium is missing; install it (apt-get install -y chromium)" >&2
    exit 1
  fi
  echo "==> installing chromium" >&2
  apt-get install -y -qq chromium >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
  }
fi

DIR="$(mktemp -d -t report-page.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
echo "==> report page in headless Chromium" >&2
cargo run --quiet --example bench_report -- --streams 40 --days 3 --out "$DIR" >/dev/null
python3 scripts/report_browser_check.py "$DIR" "$@"
