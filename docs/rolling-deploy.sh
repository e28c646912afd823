#!/usr/bin/env bash
# Rolling deploy behind Sidecar: restart app servers one at a time with
# nobody logged out and no request failed.
#
#   RESTART='systemctl restart tomcat@{name}' docs/rolling-deploy.sh /etc/sidecar.yaml app1 app2 app3
#
# For each upstream NAME, in order:
#   1. drain it (Sidecar sends it no new request) and wait until its
#      in-flight count is 0;
#   2. run $RESTART with {name} replaced by NAME;
#   3. probe it while it is still drained (a TCP connect, or the health
#      check path when one is configured) until a probe passes, then
#      undrain it and wait until it is up: a restart command usually
#      returns before the app listens, and this way no request meets an
#      app that is still starting, and the next server is not drained
#      before this one serves.
# If the drain or the restart fails, the upstream is undrained (so capacity
# comes back); if the restarted app never answers its probe, it stays
# drained. Either way the script stops with exit status 1, leaving the
# later servers untouched.
#
# Environment:
#   RESTART           required: the restart command, {name} is substituted
#   SIDECAR           the sidecar binary (default: sidecar on PATH)
#   DRAIN_TIMEOUT     how long in-flight requests may take to finish (default 120s)
#   HEALTHY_TIMEOUT   how long a restarted server may take to listen and pass
#                     its checks (default 120s)
set -euo pipefail

if [ $# -lt 2 ] || [ -z "${RESTART:-}" ]; then
  sed -n '2,27p' "$0" >&2
  exit 2
fi
config=$1
shift
sidecar=${SIDECAR:-sidecar}
drain_timeout=${DRAIN_TIMEOUT:-120s}
healthy_timeout=${HEALTHY_TIMEOUT:-120s}

for name in "$@"; do
  echo "== $name: draining"
  if ! "$sidecar" upstreams drain "$name" --config "$config" --timeout "$drain_timeout"; then
    echo "== $name: still busy after $drain_timeout; undraining and stopping" >&2
    "$sidecar" upstreams undrain "$name" --config "$config" || true
    exit 1
  fi
  echo "== $name: restarting"
  if ! sh -c "${RESTART//\{name\}/$name}"; then
    echo "== $name: restart command failed; undraining and stopping" >&2
    "$sidecar" upstreams undrain "$name" --config "$config" || true
    exit 1
  fi
  echo "== $name: waiting until it answers, then back in the pool"
  if ! "$sidecar" upstreams undrain "$name" --config "$config" --wait-healthy --timeout "$healthy_timeout"; then
    echo "== $name: not healthy after $healthy_timeout (still drained if it never answered); stopping" >&2
    exit 1
  fi
done
echo "== done: $*"
