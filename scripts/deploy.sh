#!/usr/bin/env bash
# Deploys kinesis-autoscaler. Two ways (docs/deploy.md has the details):
#
#   scripts/deploy.sh [--arm64|--x86-64] [-- SAM_DEPLOY_ARGS...]
#       The default: `sam build` then `sam deploy --guided` of template.yaml: the function,
#       its SNS topic, the reconcile schedule, the error alarm and least-privilege IAM.
#       Needs the AWS SAM CLI and cargo-lambda on PATH (pip install aws-sam-cli cargo-lambda).
#
#   scripts/deploy.sh --cargo-lambda --role ROLE_ARN [--function-name NAME] [--arm64|--x86-64]
#       `cargo lambda build --release --bin kinesis-autoscaler-lambda --no-default-features`
#       (the function's binary, without the command line) and `cargo lambda deploy`: creates or updates the
#       function only (code, memory, timeout, environment), then, with the AWS CLI, sets its
#       reserved concurrency to 10 and its async retries to 0. No topic, schedule, alarm or role:
#       bring a role with the permissions of template.yaml and subscribe the function yourself.
#       Settings: every variable the function reads (the list VARIABLES in the settings
#       code, src/domain/settings.rs; --print-settings prints it) set in this shell is passed on
#       (e.g. SCALE_UP_THRESHOLD=0.8 DRY_RUN=true scripts/deploy.sh --cargo-lambda ...);
#       unset ones are left out, so the function uses its defaults.
#
# Options:
#   --arm64 | --x86-64     architecture (default arm64)
#   --cargo-lambda         the second way above
#   --role ARN             (--cargo-lambda) the function's IAM role
#   --function-name NAME   (--cargo-lambda) default kinesis-autoscaler
#   --region REGION        passed to sam / cargo lambda / aws
#   --dry-run              print the commands, run nothing
#   --print-settings       print the names of the settings passed on, one a line, and exit
#   -h, --help             this text
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

mode=sam
arch=arm64
role=""
function_name=kinesis-autoscaler
region=""
dry_run=false
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --arm64) arch=arm64 ;;
    --x86-64|--x86_64) arch=x86_64 ;;
    --cargo-lambda) mode=cargo-lambda ;;
    --role|--iam-role) role="${2:?--role needs an IAM role ARN}"; shift ;;
    --function-name) function_name="${2:?--function-name needs a name}"; shift ;;
    --region) region="${2:?--region needs a region}"; shift ;;
    --dry-run) dry_run=true ;;
    --print-settings) mode=print-settings ;;
    --) shift; passthrough=("$@"); break ;;
    *) echo "deploy: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Prints a command, then runs it unless --dry-run.
run() {
  printf '+' >&2
  printf ' %q' "$@" >&2
  printf '\n' >&2
  if [ "$dry_run" = false ]; then
    "$@"
  fi
}

need() {
  if [ "$dry_run" = false ] && ! command -v "$1" >/dev/null 2>&1; then
    echo "deploy: $1 is not on PATH; $2" >&2
    exit 2
  fi
}

region_args=()
if [ -n "$region" ]; then
  region_args=(--region "$region")
fi

# The function's settings: the VARIABLES list of the settings code (one list, owned there).
settings_names() {
  local file
  file=$(grep -rl --include='*.rs' '^pub const VARIABLES: &\[&str\]' src) || {
    echo "deploy: cannot find the settings list (pub const VARIABLES) under src/" >&2
    return 1
  }
  sed -n '/^pub const VARIABLES: &\[&str\]/,/^\];/p' "$file" |
    grep -oE '"[A-Z0-9_]+"|\b[A-Z][A-Z0-9_]+,' | tr -d '",'
}

if [ "$mode" = print-settings ]; then
  settings_names
  exit 0
fi

if [ "$mode" = sam ]; then
  need sam "install the AWS SAM CLI (pip install aws-sam-cli)"
  need cargo-lambda "sam build runs it for BuildMethod rust-cargolambda (pip install cargo-lambda)"
  echo "deploy: building and deploying template.yaml with SAM ($arch)" >&2
  # sam build reads the architecture from the function's Architectures, i.e. the parameter.
  run sam build --parameter-overrides "Architecture=$arch" "${region_args[@]}"
  if [ ${#passthrough[@]} -eq 0 ]; then
    # --guided asks for the stack name and every parameter, and saves the answers to
    # samconfig.toml for the next `sam deploy`.
    passthrough=(--guided)
  fi
  run sam deploy --parameter-overrides "Architecture=$arch" "${region_args[@]}" "${passthrough[@]}"
  echo "deploy: done. Wire each stream: kinesis-autoscaler wire STREAM --topic-arn <the AlarmActionArn output>" >&2
  exit 0
fi

# --- cargo-lambda mode ---------------------------------------------------------------------
if [ -z "$role" ]; then
  echo "deploy: --cargo-lambda needs --role ARN (a role with the permissions in template.yaml)" >&2
  exit 2
fi
need cargo-lambda "install it with: pip install cargo-lambda"
need aws "the AWS CLI sets the reserved concurrency and the async retry settings"

case "$arch" in
  arm64) build_arch=--arm64 ;;
  x86_64) build_arch=--x86-64 ;;
esac

settings_list=$(settings_names)
mapfile -t settings <<<"$settings_list"
env_args=()
for name in "${settings[@]}"; do
  if [ -n "${!name:-}" ]; then
    env_args+=(--env-var "$name=${!name}")
  fi
done

echo "deploy: building and deploying function $function_name with cargo lambda ($arch)" >&2
run cargo lambda build --release "$build_arch" --bin kinesis-autoscaler-lambda --no-default-features
# Memory, timeout and log format as in template.yaml (see its comments for why).
run cargo lambda deploy "${region_args[@]}" \
  --binary-name kinesis-autoscaler-lambda \
  --role "$role" \
  --memory 128 \
  --timeout 900 \
  --description "Reshards Kinesis streams when their scale-up / scale-down alarms fire" \
  "${env_args[@]}" \
  "$function_name"
# Ten events at a time (per-stream safety comes from AWS and the history tag), and no Lambda
# retry (the alarm fires again; a retry would act on stale state). See template.yaml.
run aws lambda put-function-concurrency "${region_args[@]}" \
  --function-name "$function_name" --reserved-concurrent-executions 10
run aws lambda put-function-event-invoke-config "${region_args[@]}" \
  --function-name "$function_name" --maximum-retry-attempts 0 --maximum-event-age-in-seconds 3600
run aws lambda update-function-configuration "${region_args[@]}" \
  --function-name "$function_name" --logging-config LogFormat=JSON
echo "deploy: done. Subscribe $function_name to the alarms' SNS topic (and allow SNS to invoke it), or deploy template.yaml instead." >&2
