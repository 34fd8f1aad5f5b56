#!/usr/bin/env bash
# Lints template.yaml offline with cfn-lint and both SAM validators, then checks the
# values none of them catch: each function's runtime and the SQS partial-batch setting.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# TOOLS_VENV lets CI keep the environment outside the clone, between runs.
venv="${TOOLS_VENV:-.venv-tools}"
if [[ ! -x "$venv/bin/sam" || ! -x "$venv/bin/cfn-lint" ]]; then
    echo "lint-template: installing cfn-lint and aws-sam-cli into $venv" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet cfn-lint aws-sam-cli
fi
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
"$venv/bin/cfn-lint" template.yaml
"$venv/bin/sam" validate --lint --template-file template.yaml --region us-east-1
"$venv/bin/sam" validate --template-file template.yaml --region us-east-1
"$venv/bin/python" infra/scripts/check_template.py template.yaml
