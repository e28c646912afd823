#!/usr/bin/env bash
# Runs the demo shop: two app servers, app1 on 127.0.0.1:8081 and app2 on
# 127.0.0.1:8082, in the language picked, and Sidecar in front of them on
# http://127.0.0.1:8080/ with examples/demo/sidecar.yaml (the embedded bolt
# store). Ctrl-C stops all three.
#
#   examples/demo/run.sh [php|node|python]      (default php)
#
# Needs Go, and php-cli, node or python3 for the apps.
# Environment (all optional):
#   DEMO_PORT=9080   Sidecar on 9080 and the apps on 9081 and 9082
#   SIDECAR=path     a built sidecar binary to run instead of `go run ./cmd/sidecar`
#   SIDECAR_HEADERS__SECRET  the header secret (Sidecar and the apps get the same)
set -euo pipefail

lang=${1:-php}
case $lang in
  php | node | python) ;;
  *) echo "usage: $0 [php|node|python]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.." # the repository root: go run and sidecar.yaml's paths need it
demo=examples/demo

# One secret for Sidecar and the apps: the variable overrides sidecar.yaml's
# headers.secret, so they always agree.
export SIDECAR_HEADERS__SECRET=${SIDECAR_HEADERS__SECRET:-demo-header-secret-public-do-not-reuse-0123456789}
port=${DEMO_PORT:-8080}
app_ports=($((port + 1)) $((port + 2)))
if [ -n "${DEMO_PORT:-}" ]; then
  export SIDECAR_LISTEN=127.0.0.1:$port
  export SIDECAR_UPSTREAMS=app1=http://127.0.0.1:${app_ports[0]},app2=http://127.0.0.1:${app_ports[1]}
fi

# Each server runs in a process group of its own (job control), so stopping
# one stops what it started too (go run's child, php's workers).
set -m
pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_app() { # name port
  case $lang in
    php) DEMO_SERVER_NAME=$1 PHP_CLI_SERVER_WORKERS=4 php -S "127.0.0.1:$2" "$demo/php/router.php" & ;;
    node) DEMO_SERVER_NAME=$1 DEMO_PORT=$2 node "$demo/node/server.mjs" & ;;
    python) DEMO_SERVER_NAME=$1 DEMO_PORT=$2 python3 "$demo/python/app.py" & ;;
  esac
  pids+=($!)
}
start_app app1 "${app_ports[0]}"
start_app app2 "${app_ports[1]}"
if [ -n "${SIDECAR:-}" ]; then
  "$SIDECAR" serve --config "$demo/sidecar.yaml" &
else
  go run ./cmd/sidecar serve --config "$demo/sidecar.yaml" &
fi
pids+=($!)

# Wait (go run compiles first) until Sidecar accepts connections.
for _ in $(seq 1200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo
    echo "Demo shop ($lang): http://127.0.0.1:$port/"
    echo "Users: alice / wonderland, bob / builder, zoë / brûlée. Ctrl-C stops it."
    break
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a server exited before Sidecar was up" >&2; exit 1; }
  done
  sleep 0.1
done

# Until Ctrl-C, or until one of the servers exits.
wait -n || true
echo "a server exited; stopping the others" >&2
exit 1
