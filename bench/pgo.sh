#!/usr/bin/env bash
# Regenerates cmd/sidecar/default.pgo, the CPU profile behind Sidecar's
# profile-guided build (go build's -pgo=auto, which .ci/build and so the
# Dockerfile pass explicitly, reads it for ./cmd/sidecar).
#
# It runs bench/run.sh's load against a Sidecar built WITHOUT a profile
# (PGO=off): reads and writes of a 100-byte and a 4 KB session on the
# memory, bolt and Redis stores (and Redis with its client-side cache,
# where Sidecar has store.redis.cache), plus requests without a cookie, at
# 32 connections, with the access log on at info. During each run it takes
# a CPU profile from the Sidecar under load (ops.pprof,
# /debug/pprof/profile), then merges them all with `go tool pprof -proto`
# into cmd/sidecar/default.pgo. Commit the file; regenerate it when the
# request path changes much (a stale profile only gains less).
#
# Usage: bench/pgo.sh          (one command, ~4 minutes; bench/run.sh's
#                               needs: Go, wrk, redis-server, curl)
# Environment: DURATION (10s), ROUNDS (1), CONNS (32), TARGETS and GO, as
# in bench/run.sh; MAX_OTHER defaults to 100 (no repeats: a CPU profile
# samples Sidecar's own CPU, whatever else runs). PGO_OUT=FILE writes the
# profile there instead of cmd/sidecar/default.pgo.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${PGO_OUT:-$repo/cmd/sidecar/default.pgo}
GO=${GO:-go}
command -v "$GO" >/dev/null || GO=/usr/local/go/bin/go

prof=$(mktemp -d "${TMPDIR:-/tmp}/sidecar-pgo.XXXXXX")
trap 'rm -rf "$prof"' EXIT

PGO=off PROFILE_DIR=$prof GO=$GO \
	DURATION=${DURATION:-10s} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1s} CONNS=${CONNS:-32} \
	MAX_OTHER=${MAX_OTHER:-100} TARGETS=${TARGETS:-'^(memory|bolt|redis|redis-cache) (read|write) |^anon '} \
	"$repo"/bench/run.sh >"$prof"/report.md

shopt -s nullglob
profiles=("$prof"/*.pb.gz)
((${#profiles[@]} > 0)) || { echo "pgo.sh: bench/run.sh saved no profile" >&2; exit 1; }
"$GO" tool pprof -proto "${profiles[@]}" >"$prof"/merged.pgo 2>"$prof"/pprof.log ||
	{ cat "$prof"/pprof.log >&2; exit 1; }
mv "$prof"/merged.pgo "$out"

echo "pgo.sh: merged ${#profiles[@]} CPU profiles into $out ($(wc -c <"$out") bytes); the load's report:" >&2
sed -n '/^### Ratios/,/^### CPU time/p' "$prof"/report.md | sed '$d' >&2
echo "Top of the profile:" >&2
"$GO" tool pprof -top -nodecount=15 "$out" 2>/dev/null | sed -n '1,22p' >&2
