#!/usr/bin/env bash
# Deploys template.yaml on LocalStack's CloudFormation (a plain process, no Docker, no AWS
# account), once per AlarmTrigger value with a 40-character stack name, checks the function,
# its role's statements, the topic policy, the rules, the log group and the failed-events
# queue (the dashboard and reserved concurrency on the processed template: LocalStack's free
# edition makes neither), then deletes each stack. See docs/deploy.md.
#
#   KINESIS_AUTOSCALER_LOCALSTACK_VENV  LocalStack's venv (default: .venv-localstack, made on
#                                       first use with Python 3.12+; LOCALSTACK_PYTHON picks one)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

use_emulator_credentials
start_localstack s3,cloudformation,iam,sts,sqs,logs,events,lambda,sns,cloudwatch
LOCALSTACK_URL="$LOCALSTACK_URL" "$LOCALSTACK_VENV/bin/python" scripts/localstack_deploy.py
