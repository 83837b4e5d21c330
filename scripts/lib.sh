# Shared by the scripts: a Python venv with moto, a moto server on a free loopback port, and
# LocalStack core (CloudWatch's current protocol, CloudFormation) as a plain process.
# Source it; it defines functions and changes nothing by itself.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KINESIS_AUTOSCALER_VENV:-$ROOT/.venv}"
MOTO_VERSION="5.2.5"
# LocalStack core needs Python 3.12 or later, and these pins (its own are loose).
LOCALSTACK_VENV="${KINESIS_AUTOSCALER_LOCALSTACK_VENV:-$ROOT/.venv-localstack}"
LOCALSTACK_PACKAGES=('localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl==25.1.0'
  'cryptography>=45.0.1,<46' 'service_identity<25')

ensure_venv() {
  if [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/cfn-lint" ]; then
    echo "==> installing moto[server]==$MOTO_VERSION and cfn-lint into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" cfn-lint
  fi
}

# Test credentials for the emulator only; unset anything that could reach a real account.
use_emulator_credentials() {
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
  # LocalStack takes a 12-digit access key id as the account id: the same account as moto's.
  export AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=testing
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
}

# The run's own temporary folder (RUN_DIR) for the emulators' logs and state, made on first
# use and removed with the emulators when the shell exits (stop_emulators).
ensure_run_dir() {
  if [ -z "${RUN_DIR:-}" ] || [ ! -d "$RUN_DIR" ]; then
    RUN_DIR=$(mktemp -d -t kinesis-autoscaler-run.XXXXXX)
  fi
}

# Starts moto on 127.0.0.1, exports AWS_ENDPOINT_URL, and stops it when the shell exits.
start_moto() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  ensure_run_dir
  MOTO_LOG="${MOTO_LOG:-$RUN_DIR/moto.log}"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
  MOTO_PID=$!
  trap stop_emulators EXIT
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
      use_emulator_credentials
      echo "==> moto $MOTO_VERSION listening on $AWS_ENDPOINT_URL (log: $MOTO_LOG)" >&2
      return 0
    fi
    sleep 0.2
  done
  echo "moto did not start; its log:" >&2
  cat "$MOTO_LOG" >&2
  return 1
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts every emulator the integration tests need (`emulator::` tests): moto for Kinesis,
# Lambda, SNS, IAM and the tagging API, LocalStack for CloudWatch (the SDK speaks Smithy RPC v2
# CBOR to it, which moto does not). Stops them when the shell exits.
start_emulators() {
  start_moto
  start_localstack cloudwatch
  export AWS_ENDPOINT_URL_CLOUDWATCH="$LOCALSTACK_URL"
  echo "==> CloudWatch on LocalStack: AWS_ENDPOINT_URL_CLOUDWATCH=$AWS_ENDPOINT_URL_CLOUDWATCH" >&2
}

stop_emulators() {
  stop_localstack
  stop_moto
  if [ -n "${RUN_DIR:-}" ]; then
    rm -rf "${RUN_DIR:?}"
    RUN_DIR=
  fi
}

# A Python of at least 3.12 for LocalStack: $LOCALSTACK_PYTHON, else pyenv's newest 3.13 or
# 3.12, else python3.13 or python3.12 on PATH.
localstack_python() {
  if [ -n "${LOCALSTACK_PYTHON:-}" ]; then echo "$LOCALSTACK_PYTHON"; return; fi
  local root candidate
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  for candidate in $(ls -d "$root"/versions/3.13* "$root"/versions/3.12* 2>/dev/null | sort -rV); do
    if [ -x "$candidate/bin/python3" ]; then echo "$candidate/bin/python3"; return; fi
  done
  for candidate in python3.13 python3.12; do
    if command -v "$candidate" >/dev/null; then command -v "$candidate"; return; fi
  done
  echo "LocalStack needs Python 3.12 or later: set LOCALSTACK_PYTHON" >&2
  return 1
}

ensure_localstack_venv() {
  if "$LOCALSTACK_VENV/bin/python" -c 'import localstack.runtime.main' 2>/dev/null; then
    return 0
  fi
  local python started
  python=$(localstack_python)
  started=$(date +%s)
  echo "==> installing LocalStack core into $LOCALSTACK_VENV ($python)" >&2
  "$python" -m venv "$LOCALSTACK_VENV"
  "$LOCALSTACK_VENV/bin/pip" install --quiet --disable-pip-version-check "${LOCALSTACK_PACKAGES[@]}"
  echo "==> LocalStack installed in $(( $(date +%s) - started )) s" >&2
}

# Starts LocalStack core with the services named (comma-separated) on a free loopback port,
# exports LOCALSTACK_URL, and stops it when the shell exits (with start_moto's trap).
start_localstack() {
  local services="$1" port
  ensure_localstack_venv
  port=$(free_port)
  ensure_run_dir
  LOCALSTACK_ROOT="$RUN_DIR/localstack"
  mkdir -p "$LOCALSTACK_ROOT"
  LOCALSTACK_LOG="${LOCALSTACK_LOG:-$LOCALSTACK_ROOT/localstack.log}"
  # CreateFunction fetches lambda-runtime-init from GitHub unless it is there; it only runs
  # functions, which nothing here does.
  local arch
  arch=$(uname -m | sed 's/aarch64/arm64/')
  local init="$LOCALSTACK_ROOT/var/lib/localstack/lib/lambda-runtime/v0.1.41-pre/$arch/var/rapid/init"
  mkdir -p "$(dirname "$init")"
  printf '#!/bin/sh\nexit 0\n' >"$init"
  chmod +x "$init"
  OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$LOCALSTACK_ROOT" GATEWAY_LISTEN="127.0.0.1:$port" \
    SERVICES="$services" EAGER_SERVICE_LOADING=1 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
    DNS_ADDRESS=0 LOCALSTACK_CLI=0 \
    "$LOCALSTACK_VENV/bin/python" "$ROOT/scripts/localstack_main.py" >"$LOCALSTACK_LOG" 2>&1 &
  LOCALSTACK_PID=$!
  trap stop_emulators EXIT
  for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_localstack/health', timeout=1)" 2>/dev/null; then
      export LOCALSTACK_URL="http://127.0.0.1:$port"
      echo "==> LocalStack ($services) listening on $LOCALSTACK_URL (log: $LOCALSTACK_LOG)" >&2
      return 0
    fi
    if ! kill -0 "$LOCALSTACK_PID" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "LocalStack did not start; its log:" >&2
  cat "$LOCALSTACK_LOG" >&2
  stop_localstack
  return 1
}

stop_localstack() {
  if [ -n "${LOCALSTACK_PID:-}" ]; then
    kill "$LOCALSTACK_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$LOCALSTACK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$LOCALSTACK_PID" 2>/dev/null || true
    wait "$LOCALSTACK_PID" 2>/dev/null || true
    LOCALSTACK_PID=
    rm -rf "${LOCALSTACK_ROOT:?}"
  fi
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
}
