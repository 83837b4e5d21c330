#!/usr/bin/env bash
# Regenerates the images in docs/ with the commands the docs show, and updates the output
# the docs quote beside them (tests/docs_figures.rs fails when either is stale).
#
#   scripts/docs-images.sh      KINESIS_AUTOSCALER_BIN=PATH runs that binary instead of a build
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${KINESIS_AUTOSCALER_BIN:-}" ]; then
  BIN="$KINESIS_AUTOSCALER_BIN"
else
  cargo build --quiet
  BIN="${CARGO_TARGET_DIR:-target}/debug/kinesis-autoscaler"
fi

# docs/simulate.md: `kinesis-autoscaler simulate --trace traces/synthetic-spikes.csv --plot spikes.png`
OUTPUT=$("$BIN" simulate --trace traces/synthetic-spikes.csv --plot docs/replay-synthetic-spikes.png)
COMMAND='$ kinesis-autoscaler simulate --trace traces/synthetic-spikes.csv --plot spikes.png'
# Replace the lines after the command in its code block with what it printed now.
python3 - docs/simulate.md "$COMMAND" "$OUTPUT" <<'PY'
import sys
path, command, output = sys.argv[1:]
lines = open(path).read().split("\n")
start = lines.index(command) + 1
end = start
while not lines[end].startswith("```"):
    end += 1
lines[start:end] = output.split("\n")
open(path, "w").write("\n".join(lines))
PY
echo "docs/replay-synthetic-spikes.png and the output quoted in docs/simulate.md regenerated" >&2
