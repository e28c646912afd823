#!/usr/bin/env bash
# Load comparison: Sidecar (memory, bolt and Redis stores, Redis with and
# without its client-side cache) against a bare, equally tuned
# httputil.ReverseProxy, driven by wrk over loopback. Reads and writes of
# a 100-byte and a 4 KB session at 32 and 256 connections, plus requests
# without a cookie, with the access log on at info, as users run it.
# See bench/README.md for what each row means.
#
# Usage: bench/run.sh            (from anywhere; needs Go, installs wrk and
#                                 redis-server with apt-get when missing)
# Environment:
#   QUICK=1        a short look (DURATION=2s ROUNDS=1 WARMUP=1s RETRIES=0):
#                  ~3 minutes
#   DURATION=8s    length of each measured wrk run
#   ROUNDS=3       passes through all targets; the tables show medians
#   WARMUP=2s      unmeasured wrk run per target before round 1 (0 to skip)
#   TARGETS=.      extended regex: run only the targets whose name matches,
#                  e.g. 'redis', 'read 100B c32$', '^(memory|anon) '. Names
#                  are "STORE OP SIZE cCONNS" (memory read 100B c32, bolt
#                  write 4KB c256, redis-cache read 100B c32, anon read
#                  c256); the bare proxy always runs
#   CONNS="32 256" wrk -c values; each is its own block of every target
#   THREADS=1      wrk -t
#   MAX_OTHER=5    a run during which processes this script did not start
#                  took more than this percentage of the CPU is repeated...
#   RETRIES=2      ...up to this many times (then the last run counts),
#   MAX_REPEATS=   and at most this many repeats in all (default: a
#                  quarter of the measured runs), so that a busy machine
#                  cannot stretch the run much past ~25 minutes
#   PGO=auto       how Sidecar is built: auto (go build's default: with
#                  cmd/sidecar/default.pgo), off, or "off auto" to run
#                  both builds side by side (targets named STORE/pgo-off)
#   PROFILE_DIR=   save a CPU profile of Sidecar during each measured run
#                  in DIR (ops.pprof; bench/pgo.sh uses it)
#   OUT=DIR        keep the raw wrk output and the processes' error lines
#   GO=go          the Go command (falls back to /usr/local/go/bin/go)
set -euo pipefail

if [[ ${QUICK:-0} == 1 ]]; then
	: "${DURATION:=2s}" "${ROUNDS:=1}" "${WARMUP:=1s}" "${RETRIES:=0}"
fi
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
TARGETS=${TARGETS:-.}
CONNS=${CONNS:-32 256}
THREADS=${THREADS:-1}
MAX_OTHER=${MAX_OTHER:-5}
RETRIES=${RETRIES:-2}
MAX_REPEATS=${MAX_REPEATS:-}
PGO=${PGO:-auto}
PROFILE_DIR=${PROFILE_DIR:-}
OUT=${OUT:-}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sidecar-bench.XXXXXX")
started=$(date +%s)
declare -A pid port opsport
pids=()

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [[ -n $OUT ]]; then
		mkdir -p "$OUT"
		cp -r "$work"/logs "$work"/wrk "$OUT"/ 2>/dev/null || true
	fi
	if ((rc != 0)); then
		local f
		for f in "$work"/logs/*.log; do
			[[ -s $f ]] || continue
			log "--- tail of $(basename "$f")"
			tail -n 5 "$f" >&2
		done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# secs turns a wrk duration (8s, 2m) into whole seconds.
secs() {
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
[[ $(secs "$DURATION") =~ ^[0-9]+$ ]] || die "DURATION must be whole seconds or minutes (8s, 1m), got $DURATION"
for v in $PGO; do
	[[ $v == off || $v == auto ]] || die "PGO must be off, auto or \"off auto\", got $PGO"
done

# ---- tools ----------------------------------------------------------------

GO=${GO:-go}
if ! command -v "$GO" >/dev/null; then
	GO=/usr/local/go/bin/go
	[[ -x $GO ]] || die "no Go toolchain: set GO=/path/to/go"
fi

apt_install() {
	local sudo=()
	((EUID == 0)) || sudo=(sudo)
	log "installing $* with apt-get"
	"${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v curl >/dev/null || missing+=(curl)
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

mkdir -p "$work"/bin "$work"/logs "$work"/wrk "$work"/redis
log "building into $work/bin (Sidecar with -pgo=${PGO// /, -pgo=})"
(cd "$repo" && "$GO" build -o "$work"/bin/ ./bench/app ./bench/bareproxy)
for v in $PGO; do
	(cd "$repo" && "$GO" build -pgo="$v" -o "$work/bin/sidecar-pgo-$v" ./cmd/sidecar)
done
bin=$work/bin
if [[ -f $repo/cmd/sidecar/default.pgo ]]; then
	pgo_file="cmd/sidecar/default.pgo of $(cd "$repo" && git log -1 --format='%h %cs' -- cmd/sidecar/default.pgo 2>/dev/null || echo '?')"
else
	pgo_file="no cmd/sidecar/default.pgo: -pgo=auto is -pgo=off"
fi

# ---- ports and processes --------------------------------------------------

# free_port VAR picks a loopback port nobody listens on, below the kernel's
# ephemeral range (so wrk's and the proxies' outgoing connections cannot
# take it) and never 6379 (the system Redis, if any).
taken=" "
free_port() {
	local fp _
	for _ in $(seq 200); do
		fp=$((20000 + RANDOM % 12000))
		[[ $taken == *" $fp "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$fp") 2>/dev/null; then
			taken+="$fp "
			printf -v "$1" '%s' "$fp"
			return 0
		fi
	done
	die "no free port found"
}

# logfile NAME is the log file of the process NAME.
logfile() { echo "$work/logs/${1//\//-}.log"; }

# start NAME CMD... runs CMD in the background, appending its output to
# logs/NAME.log (appending, so that harvest can truncate the file under
# it), and remembers its pid.
start() {
	local name=$1
	shift
	"$@" >>"$(logfile "$name")" 2>&1 &
	pids+=($!)
	pid[$name]=$!
}

# wait_up NAME URL waits until URL answers (any HTTP status) or NAME died.
wait_up() {
	local name=$1 url=$2 _
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 1 "$url" && return 0
		kill -0 "${pid[$name]}" 2>/dev/null || die "$name exited; see its log above"
		sleep 0.1
	done
	die "$name did not answer at $url within 10s"
}

cookie_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n=')
header_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n=')

free_port p
start app "$bin"/app -listen "127.0.0.1:$p" -header-secret "$header_secret"
port[app]=$p
wait_up app "http://127.0.0.1:$p/read"

free_port p
free_port o
start bare "$bin"/bareproxy -listen "127.0.0.1:$p" -upstream "http://127.0.0.1:${port[app]}" \
	-metrics-listen "127.0.0.1:$o"
port[bare]=$p opsport[bare]=$o
wait_up bare "http://127.0.0.1:$p/read"
wait_up bare "http://127.0.0.1:$o/metrics"

free_port p
start redis-server redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$work"/redis
port[redis-server]=$p
for _ in $(seq 100); do
	redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && break
	kill -0 "${pid[redis-server]}" 2>/dev/null || die "redis-server exited"
	sleep 0.1
done
redis-cli -p "$p" ping 2>/dev/null | grep -q PONG || die "redis-server did not answer"

# One config file for every Sidecar; each instance overrides its listen
# addresses and store from the environment. The access log is on, in
# JSON at info, written with the rest of the log to a file
# (logs/NAME.log), as a deployment runs it. The session and header
# budgets fit a 4 KB session.
cat >"$work"/sidecar.yaml <<EOF
listen: "127.0.0.1:0"
upstreams:
  - name: app
    url: "http://127.0.0.1:${port[app]}"
store:
  type: memory
  redis:
    addrs: ["127.0.0.1:${port[redis-server]}"]
  bolt:
    path: "$work/sidecar.db"
session:
  secrets: ["$cookie_secret"]
  max_bytes: 5000
headers:
  secret: "$header_secret"
  max_bytes: 8192
log:
  level: info
  access: json
EOF
"$bin/sidecar-pgo-${PGO%% *}" check --config "$work"/sidecar.yaml >/dev/null 2>"$work"/check.txt ||
	die "sidecar check: $(cat "$work"/check.txt)"
[[ ! -s $work/check.txt ]] || die "sidecar check warns: $(cat "$work"/check.txt)"

# The Redis client-side cache (store.redis.cache) is newer than this
# script: where this Sidecar has no such key, `sidecar check` says the
# variable names none, and the redis-cache rows print n/a.
if SIDECAR_STORE__REDIS__CACHE=true "$bin/sidecar-pgo-${PGO%% *}" check --config "$work"/sidecar.yaml 2>&1 >/dev/null |
	grep -q 'SIDECAR_STORE__REDIS__CACHE is ignored'; then
	cache_key=0
	cache_env=()
	log "this Sidecar has no store.redis.cache: the redis-cache rows are n/a"
else
	cache_key=1
	cache_env=(SIDECAR_STORE__REDIS__CACHE=false)
fi

# The instances, in the order each block runs them: NAME|STORE|ENV...
stores=("memory|memory" "bolt|bolt" "redis|redis|${cache_env[*]}")
((cache_key == 0)) || stores+=("redis-cache|redis|SIDECAR_STORE__REDIS__CACHE=true")
sizes=("100B|100" "4KB|4096")

# Every target: name|instance|path|size label (the cookie's session)|conns.
# The bare proxy is not filtered: each conns block starts and ends with it.
targets=()
declare -A wanted
# With PGO="off auto", the two builds of a target run one after the other.
# suffix V prints the instance-name suffix of the build -pgo=V.
suffix() { [[ $PGO == "$1" ]] || echo "/pgo-$1"; }
for c in $CONNS; do
	for s in "${stores[@]}" "anon|"; do
		IFS='|' read -r st _ <<<"$s"
		for op in read write; do
			for z in "${sizes[@]}"; do
				[[ $st != anon ]] || { [[ $op == read && $z == "${sizes[0]}" ]] || continue; }
				for v in $PGO; do
					inst=$st$(suffix "$v") size=${z%%|*}
					name="$inst $op $size c$c"
					if [[ $st == anon ]]; then
						inst=memory$(suffix "$v") size=""
						name="anon$(suffix "$v") read c$c"
					fi
					[[ $name =~ $TARGETS ]] || continue
					targets+=("$name|$inst|/$op|$size|$c")
					wanted[$inst]=1
				done
			done
		done
	done
done
((${#targets[@]} > 0)) || die "TARGETS='$TARGETS' matches no target"
nconns=$(wc -w <<<"$CONNS")
: "${MAX_REPEATS:=$((ROUNDS * (${#targets[@]} + 2 * nconns) / 4))}"

# start_sidecar NAME BINARY STORE [VAR=VALUE...] starts one Sidecar, with
# its own ops listener (for go_memstats_mallocs_total), and its own bolt
# file.
start_sidecar() {
	local name=$1 binary=$2 store=$3 p o
	shift 3
	free_port p
	free_port o
	start "$name" env SIDECAR_LISTEN="127.0.0.1:$p" SIDECAR_STORE__TYPE="$store" \
		SIDECAR_OPS__LISTEN="127.0.0.1:$o" SIDECAR_OPS__PPROF="$([[ -n $PROFILE_DIR ]] && echo true || echo false)" \
		SIDECAR_STORE__BOLT__PATH="$work/${name//\//-}.db" "$@" "$binary" serve --config "$work"/sidecar.yaml
	port[$name]=$p opsport[$name]=$o
	wait_up "$name" "http://127.0.0.1:$p/read"
	wait_up "$name" "http://127.0.0.1:$o/metrics"
}

# login NAME SIZE prints the session cookie /login?size=SIZE through NAME
# set, after checking through /session that the session holds what the
# app wrote.
login() {
	local c claims blob
	c=$(curl -sS -o /dev/null -D - "http://127.0.0.1:${port[$1]}/login?size=$2" |
		tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: sidecar_sid=\([^;]*\).*/\1/p' | tail -n 1)
	[[ ${#c} -eq 87 ]] || die "$1: /login?size=$2 set no session cookie (got '$c')"
	claims=$(curl -sS --fail -H "Cookie: sidecar_sid=$c" "http://127.0.0.1:${port[$1]}/session")
	blob=$(printf "%$(($2 - 6))s" "" | tr ' ' x)
	[[ $claims == *'"sub":"alice"'* && $claims == *"\"blob\":\"$blob\""* ]] ||
		die "$1: the session after /login?size=$2 is not what the app wrote: ${claims:0:300}"
	printf '%s' "$c"
}

declare -A cookie
for v in $PGO; do
	suffix=$(suffix "$v")
	for s in "${stores[@]}"; do
		IFS='|' read -r st store env <<<"$s"
		name=$st$suffix
		[[ -n ${wanted[$name]:-} ]] || continue
		# shellcheck disable=SC2086 # env is VAR=VALUE words
		start_sidecar "$name" "$bin/sidecar-pgo-$v" "$store" $env
		for z in "${sizes[@]}"; do
			cookie[$name ${z%%|*}]=$(login "$name" "${z##*|}")
		done
	done
done
# The bare proxy gets a cookie of the same length: it does not read it.
bare_cookie=$(head -c 64 /dev/urandom | base64 | tr -d '\n=+/' | head -c 87)

# claim NAME COOKIE KEY prints the number KEY has in the session claims
# the app sees through NAME (first match, so "ver" or "counter").
claim() {
	local v
	v=$(curl -sS --fail -H "Cookie: sidecar_sid=$2" "http://127.0.0.1:${port[$1]}/session" |
		grep -o "\"$3\":[0-9]*" | head -n 1 | cut -d: -f2)
	printf '%s' "${v:-none}"
}

# settled_ver NAME COOKIE prints the session's "ver" once it has stopped
# moving: writes still queued in the store when wrk stopped (wrk abandons
# the requests in flight, but Sidecar still saves what the app asked for)
# are then counted in the run that sent them.
settled_ver() {
	local a b _
	a=$(claim "$1" "$2" ver)
	for _ in $(seq 50); do
		sleep 0.2
		b=$(claim "$1" "$2" ver)
		[[ $a == "$b" ]] && break
		a=$b
	done
	printf '%s' "$b"
}

# mallocs NAME prints "objects bytes" allocated so far by the proxy NAME,
# from its /metrics (Sidecar's ops listener, bareproxy's -metrics-listen).
mallocs() {
	curl -sS --fail --max-time 5 "http://127.0.0.1:${opsport[$1]}/metrics" | awk '
		$1 == "go_memstats_mallocs_total" { m = $2 }
		$1 == "go_memstats_alloc_bytes_total" { b = $2 }
		END { if (m == "" || b == "") exit 1; printf "%.0f %.0f\n", m, b }'
}

# harvest NAME counts the error lines of NAME's log into errlines, keeps
# them in logs/NAME.errors, prints the number of access-log lines and
# empties the log: a run writes some 50 MB of access log per proxy.
declare -A errlines
harvest() {
	local f n
	f=$(logfile "$1")
	n=$(grep -c '"level":"error"' "$f" || true)
	if ((n > 0)); then
		grep '"level":"error"' "$f" >>"${f%.log}.errors"
		errlines[$1]=$((${errlines[$1]:-0} + n))
	fi
	grep -c '"log":"access"' "$f" || true
	: >"$f"
}

# ---- load -----------------------------------------------------------------

# to_ms turns a wrk latency (950.00us, 1.23ms, 1.01s) into milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) ; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.2f", n }'
}

# median prints the median of its arguments (the mean of the middle two
# when there is an even number), "-" for none.
median() {
	(($# > 0)) || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# range prints "min-max" of its arguments with 2 decimals.
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | xargs printf '%.2f-%.2f'; }

# sum prints the sum of its integer arguments.
sum() {
	local t=0 v
	for v in "$@"; do t=$((t + v)); done
	echo "$t"
}

# The machine is rarely ours alone, and whatever else runs takes CPU from
# the run being measured. other_pct tells how much: the share of all CPU
# time during a wrk run (user+system over every CPU, from /proc/stat) that
# went neither to the processes this script started nor to wrk itself.
# cpu_ticks prints "busy total" ticks; our_ticks the ticks of our processes.
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '/^cpu / {b = $2 + $3 + $4; t = 0; for (i = 2; i <= NF; i++) t += $i; print b, t; exit}' /proc/stat; }
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
our_ticks() {
	local p t=0
	for p in "${pids[@]}"; do
		t=$((t + $(ticks_of "$p")))
	done
	echo "$t"
}
# proc_ticks NAME prints the CPU ticks so far of the proxy NAME, the app
# and redis-server.
proc_ticks() { echo "$(ticks_of "${pid[$1]}") $(ticks_of "${pid[app]}") $(ticks_of "${pid[redis-server]}")"; }
# other_pct "BUSY0 TOTAL0" OURS0 "WRK_USER WRK_SYS" (seconds, from time)
other_pct() {
	awk -v c0="$1" -v o0="$2" -v w="$3" -v c1="$(cpu_ticks)" -v o1="$(our_ticks)" -v hz="$clk_tck" 'BEGIN {
		split(c0, a); split(c1, b); split(w, u)
		other = (b[1] - a[1]) - (o1 - o0) - (u[1] + u[2]) * hz
		if (other < 0) other = 0
		printf "%.1f", 100 * other / (b[2] - a[2]) }'
}

# Results, per target name (and per "name round" for req/s): values
# separated by spaces, one per round.
declare -A rps p50 p99 nreq errs saved answered other cpu_proxy cpu_app cpu_redis cpu_wrk
declare -A allocs kbytes acclines runs
repeats=0
notes=()

# run_target ROUND SPEC: an unmeasured warm-up in round 1, then one
# measured wrk run, repeated (up to RETRIES times) while other processes
# took more than MAX_OTHER percent of the CPU. /write runs also read the
# session's "ver" before and after each run, through the app's own view of
# the claims. Errors and write checks count every run, repeated or not.
run_target() {
	local round=$1 name inst path size conns c hdr=() url
	IFS='|' read -r name inst path size conns <<<"$2"
	c=${cookie[$inst $size]:-}
	[[ $inst != bare ]] || c=$bare_cookie
	url="http://127.0.0.1:${port[$inst]}$path"
	[[ -z $c ]] || hdr=(-H "Cookie: sidecar_sid=$c")
	if ((round == 1)) && [[ $WARMUP != 0 ]]; then
		wrk -t"$THREADS" -c"$conns" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null
	fi
	local try out oth r l50 l99 n non2xx sock ver0 ver1 cpu0 ours0 proc0 proc1 m0 m1 prof acc
	local a b d e TIMEFORMAT='%3U %3S'
	for ((try = 1; ; try++)); do
		out="$work/wrk/${name//[\/ ]/_}.round$round.try$try.txt"
		log "round $round/$ROUNDS: wrk -c$conns $name ($DURATION)"
		[[ $path != /write ]] || ver0=$(settled_ver "$inst" "$c")
		[[ $inst == bare ]] || harvest "$inst" >/dev/null
		prof=""
		if [[ -n $PROFILE_DIR && $inst != bare ]]; then
			prof="$PROFILE_DIR/${name//[\/ ]/_}.round$round.try$try.pb.gz"
			curl -sS --fail -o "$prof" \
				"http://127.0.0.1:${opsport[$inst]}/debug/pprof/profile?seconds=$(($(secs "$DURATION") > 1 ? $(secs "$DURATION") - 1 : 1))" &
			prof=$!
		fi
		m0=$(mallocs "$inst") || die "$inst: no allocation counters at its /metrics"
		cpu0=$(cpu_ticks)
		ours0=$(our_ticks)
		proc0=$(proc_ticks "$inst")
		{ time wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "${hdr[@]}" "$url" >"$out"; } 2>"$out.cpu"
		oth=$(other_pct "$cpu0" "$ours0" "$(cat "$out.cpu")")
		proc1=$(proc_ticks "$inst")
		m1=$(mallocs "$inst") || die "$inst: no allocation counters at its /metrics"
		[[ -z $prof ]] || wait "$prof" || die "$inst: no CPU profile from /debug/pprof/profile"
		r=$(awk '/^Requests\/sec:/ {print $2}' "$out")
		l50=$(awk '$1 == "50%" {print $2; exit}' "$out")
		l99=$(awk '$1 == "99%" {print $2; exit}' "$out")
		n=$(awk '/ requests in / {print $1}' "$out")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
		sock=$(sed -n 's/^ *Socket errors: *//p' "$out")
		[[ -n $r && -n $l50 && -n $l99 && -n $n ]] || die "could not read wrk output $out"
		runs[$name]=$((${runs[$name]:-0} + 1))
		if [[ $path == /write ]]; then
			ver1=$(settled_ver "$inst" "$c")
			saved[$name]=$((${saved[$name]:-0} + ver1 - ver0))
			answered[$name]=$((${answered[$name]:-0} + n - ${non2xx:-0}))
		fi
		if [[ $inst != bare ]]; then
			acc=$(harvest "$inst")
			acclines[$name]+="$(awk -v a="$acc" -v n="$n" 'BEGIN {printf "%.3f", a / n}') "
		fi
		errs[$name]=$((${errs[$name]:-0} + ${non2xx:-0}))
		if [[ -n $non2xx || -n $sock ]]; then
			notes+=("round $round, $name: ${non2xx:-0} non-2xx/3xx, socket errors: ${sock:-none} (wrk/$(basename "$out"))")
			# shellcheck disable=SC2046 # the numbers in "connect 0, read 3, ..."
			[[ -z $sock ]] || errs[$name]=$((errs[$name] + $(sum $(grep -o '[0-9]\+' <<<"$sock"))))
		fi
		if awk -v o="$oth" -v m="$MAX_OTHER" 'BEGIN {exit !(o <= m)}' || ((try > RETRIES || repeats >= MAX_REPEATS)); then
			break
		fi
		log "  other processes took ${oth}% of the CPU: measuring again"
		repeats=$((repeats + 1))
	done
	rps[$name]+="$r "
	rps[$name $round]+="$r "
	p50[$name]+="$(to_ms "$l50") "
	p99[$name]+="$(to_ms "$l99") "
	nreq[$name]+="$n "
	other[$name]+="$oth "
	# CPU microseconds per request of the proxy, the app, redis-server
	# and wrk; allocations and kilobytes allocated per request.
	read -r a b d e < <(awk -v a="$proc0" -v b="$proc1" -v w="$(cat "$out.cpu")" -v n="$n" -v hz="$clk_tck" 'BEGIN {
		split(a, x); split(b, y); split(w, u); f = 1e6 / hz / n
		printf "%.1f %.1f %.1f %.1f\n", (y[1] - x[1]) * f, (y[2] - x[2]) * f, (y[3] - x[3]) * f, (u[1] + u[2]) * 1e6 / n }')
	cpu_proxy[$name]+="$a "
	cpu_app[$name]+="$b "
	cpu_redis[$name]+="$d "
	cpu_wrk[$name]+="$e "
	read -r a b < <(awk -v a="$m0" -v b="$m1" -v n="$n" 'BEGIN {
		split(a, x); split(b, y); printf "%.1f %.2f\n", (y[1] - x[1]) / n, (y[2] - x[2]) / n / 1024 }')
	allocs[$name]+="$a "
	kbytes[$name]+="$b "
}

# Each round runs, per conns value, the bare proxy, every target, and the
# bare proxy again: a target's ratio is its req/s over the mean of the
# two bare runs around it in the same round.
for ((round = 1; round <= ROUNDS; round++)); do
	for c in $CONNS; do
		run_target "$round" "bare read c$c|bare|/read||$c"
		for spec in "${targets[@]}"; do
			[[ ${spec##*|} == "$c" ]] && run_target "$round" "$spec"
		done
		run_target "$round" "bare read c$c|bare|/read||$c"
	done
done

# ---- report ---------------------------------------------------------------

# ratio NAME CONNS prints the median over the rounds of NAME's req/s over
# the bare proxy's in the same round, and their range.
ratio() {
	local r rs=() b
	for ((r = 1; r <= ROUNDS; r++)); do
		b=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s / NF }' <<<"${rps[bare read c$2 $r]}")
		rs+=("$(awk -v a="${rps[$1 $r]}" -v b="$b" 'BEGIN {printf "%.3f", a / b}')")
	done
	printf '%.2f (%s)' "$(median "${rs[@]}")" "$(range "${rs[@]}")"
}

# vs VALUE BARE prints VALUE with VALUE/BARE beside it.
vs() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f " (%.2f×)", a, (b > 0 ? a / b : 0) }'; }

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
commit=$(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)
cat <<EOF

## Sidecar vs bare httputil.ReverseProxy ($(date -u +%Y-%m-%dT%H:%MZ))

Sidecar \`$commit\` built with $("$GO" version | cut -d' ' -f3) -pgo=${PGO// /, -pgo=} ($pgo_file);
$(nproc) CPUs ($cpu), $mem, $(uname -sr), shared by wrk, the app, the proxy and redis-server.
wrk -t$THREADS -d$DURATION over loopback, $ROUNDS round(s) through every target in turn ($([[ $WARMUP == 0 ]] && echo "no" || echo "a $WARMUP")
warm-up per target in round 1); every Sidecar logs each request (log.level info,
log.access json) to a file, and the Redis client-side cache is $( ((cache_key)) && echo "store.redis.cache true on the redis-cache rows and false on the redis rows" || echo "not in this Sidecar (n/a)").

### Ratios to the bare proxy

req/s over the bare proxy's in the same round (median over the rounds). Reads
and writes send a session cookie (a 100-byte or a 4 KB session); anon sends none.
Writes are compared with the bare proxy's reads.

EOF
header="| store | op | session |"
rule="|---|---|---|"
for c in $CONNS; do
	header+=" c$c |"
	rule+="---:|"
done
echo "$header"
echo "$rule"
for v in $PGO; do
	suffix=$(suffix "$v")
	rows=()
	for s in "memory" "bolt" "redis" "redis-cache"; do
		for op in read write; do
			for z in 100B 4KB; do rows+=("$s$suffix|$op|$z"); done
		done
	done
	rows+=("anon$suffix|read|")
	for row in "${rows[@]}"; do
		IFS='|' read -r st op z <<<"$row"
		line="| $st | $op | ${z:-none} |"
		any=0
		for c in $CONNS; do
			name="$st $op${z:+ $z} c$c"
			if [[ -n ${rps[$name]:-} ]]; then
				line+=" $(ratio "$name" "$c" | cut -d' ' -f1) |"
				any=1
			elif [[ $st == redis-cache* && $name =~ $TARGETS ]] && ((cache_key == 0)); then
				line+=" n/a |"
				any=1
			else
				line+=" - |"
			fi
		done
		((any)) && echo "$line"
	done
done

cat <<EOF

### Every target

"vs bare" is the median ratio with its range over the rounds. "proxy CPU" is
the proxy process's CPU time per request (user+system from /proc/PID/stat),
beside it the same over the bare proxy's at the same connections; "allocs"
and "KB" are the objects and kilobytes the proxy allocated per request
(go_memstats_mallocs_total and go_memstats_alloc_bytes_total from its
/metrics), beside the allocs the same over the bare proxy's. "other CPU" is
the share of the machine's CPU time that went to processes this script did
not start while wrk ran (median, max); runs above $MAX_OTHER% were repeated up
to $RETRIES times, and $MAX_REPEATS times in all ($repeats repeats).

| target | req/s | vs bare | proxy CPU µs/req | allocs/req | KB/req | p50 ms | p99 ms | requests | errors | other CPU % |
|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|
EOF
for c in $CONNS; do
	bare="bare read c$c"
	# shellcheck disable=SC2086 # the values are space-separated numbers
	{
		bcpu=$(median ${cpu_proxy[$bare]})
		balloc=$(median ${allocs[$bare]})
	}
	names=("$bare")
	for spec in "${targets[@]}"; do
		[[ ${spec##*|} != "$c" ]] || names+=("${spec%%|*}")
	done
	for name in "${names[@]}"; do
		# shellcheck disable=SC2086
		{
			vsb="1.00"
			[[ $name == bare* ]] || vsb=$(ratio "$name" "$c")
			printf '| %s | %.0f | %s | %s | %s | %.1f | %.2f | %.2f | %s | %s | %.1f, %.1f |\n' "$name" \
				"$(median ${rps[$name]})" "$vsb" \
				"$(vs "$(median ${cpu_proxy[$name]})" "$bcpu" %.1f)" \
				"$(vs "$(median ${allocs[$name]})" "$balloc" %.0f)" \
				"$(median ${kbytes[$name]})" "$(median ${p50[$name]})" "$(median ${p99[$name]})" \
				"$(sum ${nreq[$name]})" "${errs[$name]}" \
				"$(median ${other[$name]})" "$(printf '%s\n' ${other[$name]} | sort -g | tail -n 1)"
		}
	done
done

# With both builds, each target's -pgo=auto run over its -pgo=off run.
if [[ $PGO == "off auto" || $PGO == "auto off" ]]; then
	cat <<EOF

### The profile-guided build against the same code without it

Per target: req/s of -pgo=auto over -pgo=off (each round's pair, run one
after the other; median and range), and the medians of proxy CPU time and
allocations per request of each build.

| target | req/s auto/off | proxy CPU µs/req off → auto | allocs/req off → auto |
|---|---|---|---|
EOF
	for spec in "${targets[@]}"; do
		name=${spec%%|*}
		[[ $name == */pgo-auto* ]] || continue
		off=${name/\/pgo-auto//pgo-off}
		[[ -n ${rps[$off]:-} ]] || continue
		rs=()
		for ((r = 1; r <= ROUNDS; r++)); do
			rs+=("$(awk -v a="${rps[$name $r]}" -v b="${rps[$off $r]}" 'BEGIN {printf "%.3f", a / b}')")
		done
		# shellcheck disable=SC2086 # the values are space-separated numbers
		printf '| %s | %.2f (%s) | %.1f → %.1f (%+.0f%%) | %.0f → %.0f |\n' "${name/\/pgo-auto/}" \
			"$(median "${rs[@]}")" "$(range "${rs[@]}")" \
			"$(median ${cpu_proxy[$off]})" "$(median ${cpu_proxy[$name]})" \
			"$(awk -v a="$(median ${cpu_proxy[$name]})" -v b="$(median ${cpu_proxy[$off]})" 'BEGIN {print 100 * (a / b - 1)}')" \
			"$(median ${allocs[$off]})" "$(median ${allocs[$name]})"
	done
fi

cat <<EOF

### CPU time per request, by process

Microseconds (median over the rounds), from /proc/PID/stat of each process
and wrk's own user+system time. On a saturated machine req/s is about
$(nproc) CPUs divided by the total; the kernel's share of loopback networking
(softirq) is in none of the columns.

| target | proxy | app | redis-server | wrk | total |
|---|---:|---:|---:|---:|---:|
EOF
for c in $CONNS; do
	for spec in "bare read c$c|" "${targets[@]}"; do
		[[ $spec == bare* || ${spec##*|} == "$c" ]] || continue
		name=${spec%%|*}
		# shellcheck disable=SC2086
		{
			a=$(median ${cpu_proxy[$name]})
			b=$(median ${cpu_app[$name]})
			d=$(median ${cpu_redis[$name]})
			e=$(median ${cpu_wrk[$name]})
		}
		printf '| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n' "$name" "$a" "$b" "$d" "$e" \
			"$(awk -v a="$a" -v b="$b" -v c="$d" -v d="$e" 'BEGIN {print a + b + c + d}')"
	done
done

echo
echo "### Checks"
echo
echo "Writes: the session's \"ver\" (one per saved write) read through the app before and after each measured /write run, against wrk's count of 2xx/3xx responses (a refused write must not be saved; saves may exceed them by the requests in flight when wrk stopped):"
echo
for spec in "${targets[@]}"; do
	IFS='|' read -r name _ path _ conns <<<"$spec"
	[[ $path == /write ]] || continue
	verdict="ok"
	if ((saved[$name] < answered[$name])); then
		verdict="LOST WRITES: fewer saved than answered with success"
	elif ((saved[$name] > answered[$name] + conns * runs[$name])); then
		verdict="UNEXPECTED: more saves than successful responses plus requests in flight"
	fi
	echo "- $name: ver +${saved[$name]} for ${answered[$name]} successful responses ($verdict)"
done
echo
# shellcheck disable=SC2046,SC2086
echo "Access log: $(printf '%s\n' $(for spec in "${targets[@]}"; do echo ${acclines[${spec%%|*}]}; done) | sort -g | sed -n '1p;$p' |
	xargs printf '%.3f to %.3f') access-log lines per request counted by wrk, over every measured Sidecar run (1 is one line per request; wrk does not count the requests in flight when it stops)."
echo
if ((${#notes[@]} == 0)); then
	echo "wrk saw no non-2xx/3xx responses and no socket errors."
else
	echo "wrk reported errors:"
	printf -- '- %s\n' "${notes[@]}"
fi
for inst in $(printf '%s\n' "${!wanted[@]}" | sort); do
	harvest "$inst" >/dev/null
	echo "- $inst logged ${errlines[$inst]:-0} error lines"
done
echo
echo "The run took $((($(date +%s) - started) / 60)) min $((($(date +%s) - started) % 60)) s."
