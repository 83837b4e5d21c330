#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, unit tests, and integration tests that
# drive the real AWS SDK against a moto server this script starts and stops.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
echo "==> cargo fmt --check" >&2
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --all-targets --quiet -- -D warnings
if [ -x scripts/lint-templates.sh ]; then
  echo "==> templates" >&2
  CFN_LINT="$VENV/bin/cfn-lint" PYTHON="$VENV/bin/python" scripts/lint-templates.sh
fi
# The completion tests load the scripts in zsh and fish (tests/completions.rs).
if ! command -v zsh >/dev/null || ! command -v fish >/dev/null; then
  echo "==> installing zsh and fish (Debian) for the completion tests" >&2
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  { $SUDO apt-get install -y -qq zsh fish || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq zsh fish; }; } >/dev/null ||
    echo "==> zsh or fish could not be installed: their completion tests will fail" >&2
fi
start_moto
echo "==> cargo test" >&2
cargo test --all-targets "$@"
