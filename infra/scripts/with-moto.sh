#!/usr/bin/env bash
# Runs CMD [ARGS...] against a throwaway moto server on 127.0.0.1 and exits with CMD's status.
#
# Creates .venv-moto at the repository root on first use (pip install 'moto[server]') and
# reuses it afterwards. CMD runs with MOTO_ENDPOINT, static test credentials, region us-east-1,
# AWS_EC2_METADATA_DISABLED=true and NO_PROXY with 127.0.0.1, so no request leaves the host.
#
# Example: infra/scripts/with-moto.sh cargo test -p shared --test contract
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# MOTO_VENV lets CI keep the environment outside the clone, between runs.
venv="${MOTO_VENV:-$repo_root/.venv-moto}"

# A venv without moto_server is a half-finished install, so pip runs again.
if [[ ! -x "$venv/bin/moto_server" ]]; then
    echo "with-moto: installing moto[server] into $venv" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'moto[server]'
fi

export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE

# The kernel picks a free port. Another process could take it before moto binds it, which
# then shows up as a start-up failure below.
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp -t moto-server.XXXXXX)"

moto_pid=""
cleanup() {
    if [[ -n "$moto_pid" ]]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!

# Poll every 0.1 s for up to 10 s.
ready=false
for _ in $(seq 100); do
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
        ready=true
        break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [[ "$ready" != true ]]; then
    echo "with-moto: moto_server did not respond on 127.0.0.1:$port within 10 s; its output:" >&2
    cat "$log" >&2
    exit 1
fi

export MOTO_ENDPOINT="http://127.0.0.1:$port"
echo "with-moto: moto_server (pid $moto_pid) listening at $MOTO_ENDPOINT" >&2

status=0
"$@" || status=$?
exit "$status"
