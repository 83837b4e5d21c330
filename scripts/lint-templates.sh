#!/usr/bin/env bash
# Lints the deployment templates: cfn-lint on the SAM template and the CloudFormation
# templates under infra/, and a structural check of the KEDA manifests under infra/keda/.
# Exits non-zero on any failure.
#
#   CFN_LINT  the cfn-lint command (default: cfn-lint)
#   PYTHON    a Python with PyYAML (default: the Python cfn-lint runs on, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT="${CFN_LINT:-cfn-lint}"
if ! command -v "$CFN_LINT" >/dev/null 2>&1; then
  echo "lint-templates: $CFN_LINT not found; install it with 'pip install cfn-lint' or set CFN_LINT" >&2
  exit 2
fi
if [ -z "${PYTHON:-}" ]; then
  # cfn-lint depends on PyYAML, so the interpreter next to it has it.
  cfn_lint_dir="$(dirname "$(command -v "$CFN_LINT")")"
  if [ -x "$cfn_lint_dir/python" ]; then
    PYTHON="$cfn_lint_dir/python"
  else
    PYTHON=python3
  fi
fi

status=0
templates=(template.yaml infra/*.yaml)
echo "lint-templates: $CFN_LINT ${templates[*]}" >&2
if ! "$CFN_LINT" -- "${templates[@]}"; then
  status=1
fi

keda=(infra/keda/*.yaml)
echo "lint-templates: KEDA manifests ${keda[*]}" >&2
if ! "$PYTHON" - "${keda[@]}" <<'PY'
import sys

import yaml

failures = []
scaled_objects = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as err:
        failures.append(f"{path}: not valid YAML: {err}")
        continue
    for index, doc in enumerate(docs):
        where = f"{path} document {index + 1}"
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            failures.append(f"{where}: not a Kubernetes object (apiVersion and kind)")
            continue
        if not (doc.get("metadata") or {}).get("name"):
            failures.append(f"{where}: {doc['kind']} has no metadata.name")
        if doc["kind"] != "ScaledObject":
            continue
        scaled_objects += 1
        spec = doc.get("spec") or {}
        if not (spec.get("scaleTargetRef") or {}).get("name"):
            failures.append(f"{where}: ScaledObject has no spec.scaleTargetRef.name")
        triggers = spec.get("triggers") or []
        kinesis = [t for t in triggers if isinstance(t, dict) and t.get("type") == "aws-kinesis-stream"]
        if not kinesis:
            failures.append(f"{where}: ScaledObject has no aws-kinesis-stream trigger")
        for trigger in kinesis:
            metadata = trigger.get("metadata") or {}
            for key in ("streamName", "awsRegion", "shardCount"):
                if not isinstance(metadata.get(key), str) or not metadata[key]:
                    failures.append(f"{where}: aws-kinesis-stream trigger needs metadata.{key} as a string")
        low, high = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            failures.append(f"{where}: minReplicaCount {low} exceeds maxReplicaCount {high}")
if scaled_objects == 0:
    failures.append("no KEDA ScaledObject found under infra/keda/")
for failure in failures:
    print(f"lint-templates: {failure}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
then
  status=1
fi

# cfn-lint sees a dashboard body as an opaque string: check that it is JSON once !Sub has
# filled it in, and that every widget names its region.
echo "lint-templates: dashboard bodies in template.yaml" >&2
if ! "$PYTHON" - template.yaml <<'PY'
import json
import re
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


def any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


Loader.add_multi_constructor("!", any_tag)
with open(sys.argv[1], encoding="utf-8") as f:
    template = yaml.load(f, Loader=Loader)
failures = []
for name, resource in (template.get("Resources") or {}).items():
    if resource.get("Type") != "AWS::CloudWatch::Dashboard":
        continue
    body = resource["Properties"]["DashboardBody"]
    text = body[0] if isinstance(body, list) else body
    # Numbers and names alike: a placeholder that is valid in either place.
    filled = re.sub(r"\$\{[A-Za-z0-9:.]+\}", "1", text)
    try:
        dashboard = json.loads(filled)
    except ValueError as err:
        failures.append(f"{name}: DashboardBody is not JSON: {err}")
        continue
    for index, widget in enumerate(dashboard.get("widgets", [])):
        if widget.get("type") == "metric" and "region" not in widget.get("properties", {}):
            failures.append(f"{name}: widget {index} has no region")
for failure in failures:
    print(f"lint-templates: {failure}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
then
  status=1
fi

# The function's name and the statements that name it agree for a stack name of any legal
# length (CloudFormation truncates long stack names in generated names; ours are fixed).
echo "lint-templates: the function's name, log group and ReconcileCursor statement for stack names of 1 to 128 characters" >&2
if ! "$PYTHON" - template.yaml <<'PY'
import re
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


def tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


Loader.add_multi_constructor("!", tagged)
with open(sys.argv[1], encoding="utf-8") as f:
    template = yaml.load(f, Loader=Loader)

failures = []
for length in (1, 40, 60, 128):
    stack = ("s" * length)[:length]
    uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    pseudo = {
        "AWS::StackName": stack,
        "AWS::StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/{uuid}",
        "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
    }

    def render(value, names=None):
        names = dict(pseudo, **(names or {}))
        if isinstance(value, str):
            return value
        (fn, arg), = value.items()
        if fn == "Ref":
            return names[arg]
        if fn == "Fn::Select":
            return render(arg[1], names)[int(arg[0])]
        if fn == "Fn::Split":
            return render(arg[1], names).split(arg[0])
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else arg
            names.update({k: render(v, names) for k, v in extra.items()})
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)
        raise ValueError(f"cannot render {fn}")

    resources = template["Resources"]
    function = render(resources["AutoscalerFunction"]["Properties"]["FunctionName"])
    log_group = render(resources["AutoscalerLogGroup"]["Properties"]["LogGroupName"])
    statements = resources["AutoscalerFunction"]["Properties"]["Policies"][0]["Statement"]
    cursor = next(s for s in statements if isinstance(s, dict) and s.get("Sid") == "ReconcileCursor")
    resource = render(cursor["Resource"])
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", function):
        failures.append(f"stack name of {length}: function name {function!r} is not a legal Lambda name")
    if resource != arn:
        failures.append(f"stack name of {length}: ReconcileCursor names {resource}, the function is {arn}")
    if log_group != f"/aws/lambda/{function}":
        failures.append(f"stack name of {length}: log group {log_group} is not the function's")
for failure in failures:
    print(f"lint-templates: {failure}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
then
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "lint-templates: clean" >&2
fi
exit "$status"
