#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, unit tests, and the integration tests that
# drive the real AWS SDK against the emulators this script starts and stops. Those tests are
# `#[ignore]`d in a plain `cargo test`; here they run (`--include-ignored`).
# Arguments go to cargo; after `--`, to the test binaries.
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
start_emulators
cargo_args=() test_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do cargo_args+=("$1"); shift; done
[ $# -gt 0 ] && shift
test_args=("$@")
echo "==> cargo test --all-targets ${cargo_args[*]} -- --include-ignored ${test_args[*]}" >&2
cargo test --all-targets "${cargo_args[@]}" -- --include-ignored "${test_args[@]}"
# The template on LocalStack's CloudFormation (about a minute and a half; its own LocalStack).
if [ "${SKIP_DEPLOY_CHECK:-}" != 1 ]; then
  echo "==> scripts/localstack-deploy.sh" >&2
  scripts/localstack-deploy.sh
fi
scripts/report-browser-test.sh
