# Shared by the scripts: a Python venv with moto, and a moto server on a free loopback port.
# Source it; it defines functions and changes nothing by itself.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KINESIS_AUTOSCALER_VENV:-$ROOT/.venv}"
MOTO_VERSION="5.2.5"

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
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
}

# Starts moto on 127.0.0.1, exports AWS_ENDPOINT_URL, and stops it when the shell exits.
start_moto() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MOTO_LOG="${MOTO_LOG:-$(mktemp -t moto.XXXXXX.log)}"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
  MOTO_PID=$!
  trap stop_moto EXIT
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

# Starts every emulator the integration tests need (`emulator::` tests) and stops them when the
# shell exits.
start_emulators() {
  start_moto
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
}
