#!/usr/bin/env bash
# shellcheck disable=SC2154 # free_port and start assign variables by name
# (printf -v, eval), which shellcheck cannot follow.
# Load comparison: Sidecar (memory, redis, bolt stores) against a bare,
# equally tuned httputil.ReverseProxy, driven by wrk over loopback.
# See bench/README.md for what each row means.
#
# Usage: bench/run.sh            (from anywhere; needs Go, installs wrk and
#                                 redis-server with apt-get when missing)
# Environment:
#   DURATION=10s   length of each measured wrk run
#   ROUNDS=3       passes through all targets; the table shows medians
#   WARMUP=2s      unmeasured wrk run per target before round 1 (0 to skip)
#   MAX_OTHER=5    a run during which processes this script did not start
#                  took more than this percentage of the CPU is repeated...
#   RETRIES=2      ...up to this many times (then the last run counts)
#   THREADS=2      wrk -t
#   CONNS=32       wrk -c
#   OUT=DIR        keep the raw wrk output and the process logs in DIR
#   GO=go          the Go command (falls back to /usr/local/go/bin/go)
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
MAX_OTHER=${MAX_OTHER:-5}
RETRIES=${RETRIES:-2}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
OUT=${OUT:-}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sidecar-bench.XXXXXX")
pids=()

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
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
log "building into $work/bin"
(cd "$repo" && "$GO" build -o "$work"/bin/ ./bench/app ./bench/bareproxy ./cmd/sidecar)
bin=$work/bin

# ---- ports and processes --------------------------------------------------

# free_port VAR picks a loopback port nobody listens on, below the kernel's
# ephemeral range (so wrk's and the proxies' outgoing connections cannot
# take it) and never 6379 (the system Redis, if any).
taken=" "
free_port() {
	local p _
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		[[ $taken == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken+="$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

# start NAME CMD... runs CMD in the background with its output in
# logs/NAME.log and remembers its pid for cleanup.
start() {
	local name=$1
	shift
	"$@" >"$work/logs/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_${name//-/_}=$!"
}

# wait_up NAME URL waits until URL answers (any HTTP status) or NAME died.
wait_up() {
	local name=$1 url=$2 pidvar="pid_${1//-/_}" _
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 1 "$url" && return 0
		kill -0 "${!pidvar}" 2>/dev/null || die "$name exited; see its log above"
		sleep 0.1
	done
	die "$name did not answer at $url within 10s"
}

cookie_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n=')
header_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n=')

free_port app_port
start app "$bin"/app -listen "127.0.0.1:$app_port" -header-secret "$header_secret"
wait_up app "http://127.0.0.1:$app_port/read"

free_port bare_port
start bare "$bin"/bareproxy -listen "127.0.0.1:$bare_port" -upstream "http://127.0.0.1:$app_port"
wait_up bare "http://127.0.0.1:$bare_port/read"

free_port redis_port
start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$work"/redis
for _ in $(seq 100); do
	redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
	kill -0 "$pid_redis" 2>/dev/null || die "redis-server exited"
	sleep 0.1
done
redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG || die "redis-server did not answer"

# One config file for every Sidecar; each instance overrides its listen
# address, store and log level from the environment.
cat >"$work"/sidecar.yaml <<EOF
listen: "127.0.0.1:0"
upstreams:
  - name: app
    url: "http://127.0.0.1:$app_port"
store:
  type: memory
  redis:
    addrs: ["127.0.0.1:$redis_port"]
  bolt:
    path: "$work/sidecar.db"
session:
  secrets: ["$cookie_secret"]
headers:
  secret: "$header_secret"
log:
  level: error
EOF
"$bin"/sidecar check --config "$work"/sidecar.yaml >/dev/null

# start_sidecar NAME STORE LEVEL [VAR=VALUE...]
start_sidecar() {
	local name=$1 store=$2 level=$3 port
	shift 3
	free_port port
	start "$name" env SIDECAR_LISTEN="127.0.0.1:$port" SIDECAR_STORE__TYPE="$store" \
		SIDECAR_LOG__LEVEL="$level" "$@" "$bin"/sidecar serve --config "$work"/sidecar.yaml
	wait_up "$name" "http://127.0.0.1:$port/read"
	eval "port_${name//-/_}=$port"
}
start_sidecar sidecar-memory memory error
start_sidecar sidecar-redis redis error
start_sidecar sidecar-bolt bolt error
start_sidecar sidecar-bolt-nosync bolt error SIDECAR_STORE__BOLT__PATH="$work/nosync.db" \
	SIDECAR_STORE__BOLT__NO_SYNC=true
start_sidecar sidecar-memory-info memory info

# login NAME prints the session cookie /login through NAME set.
login() {
	local portvar="port_${1//-/_}" c
	c=$(curl -sS -o /dev/null -D - "http://127.0.0.1:${!portvar}/login" |
		tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: sidecar_sid=\([^;]*\).*/\1/p' | tail -n 1)
	[[ ${#c} -eq 87 ]] || die "$1: /login set no session cookie (got '$c')"
	printf '%s' "$c"
}

# claim NAME COOKIE KEY prints the number KEY has in the session claims
# the app sees through NAME (first match, so "ver" or "counter").
claim() {
	local portvar="port_${1//-/_}" v
	v=$(curl -sS --fail -H "Cookie: sidecar_sid=$2" "http://127.0.0.1:${!portvar}/session" |
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

declare -A cookie
for s in sidecar-memory sidecar-redis sidecar-bolt sidecar-bolt-nosync sidecar-memory-info; do
	cookie[$s]=$(login "$s")
	claims=$(curl -sS --fail -H "Cookie: sidecar_sid=${cookie[$s]}" \
		"http://127.0.0.1:$(eval echo "\$port_${s//-/_}")/session")
	[[ $claims == *'"sub":"alice"'* && $claims == *'"cart":'* ]] ||
		die "$s: the session after /login is not what the app wrote: $claims"
done

# ---- load -----------------------------------------------------------------

# The targets, in the order each round runs them: label|port|path|cookie.
targets=("bare|$bare_port|/read|")
for s in sidecar-memory sidecar-redis sidecar-bolt; do
	p=port_${s//-/_}
	targets+=("$s|${!p}|/read|${cookie[$s]}")
done
for s in sidecar-memory sidecar-redis sidecar-bolt sidecar-bolt-nosync; do
	p=port_${s//-/_}
	targets+=("$s|${!p}|/write|${cookie[$s]}")
done
targets+=("sidecar-memory-info|$port_sidecar_memory_info|/read|${cookie[sidecar-memory-info]}")

# to_ms turns a wrk latency (950.00us, 1.23ms, 1.01s) into milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) ; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.2f", n }'
}

# median prints the median of its arguments (the mean of the middle two
# when there is an even number).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# sum prints the sum of its arguments.
sum() {
	local t=0 v
	for v in "$@"; do t=$((t + v)); done
	echo "$t"
}

# Results per "label path": space-separated values, one per round.
declare -A rps p50 p99 ratio nreq errs saved answered other cpu_proxy cpu_app cpu_redis cpu_wrk
repeats=0
notes=()

# run_target ROUND SPEC: an unmeasured warm-up in round 1, then one
# measured wrk run, repeated (up to RETRIES times) while other processes
# took more than MAX_OTHER percent of the CPU. /write runs also read the
# session's "ver" before and after each run, through the app's own view of
# the claims. Errors and write checks count every run, repeated or not.
run_target() {
	local round=$1 label port path c hdr=() key url
	IFS='|' read -r label port path c <<<"$2"
	key="$label $path"
	url="http://127.0.0.1:$port$path"
	[[ -n $c ]] && hdr=(-H "Cookie: sidecar_sid=$c")
	if ((round == 1)) && [[ $WARMUP != 0 ]]; then
		wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null
	fi
	local try out oth r l50 l99 n non2xx sock ver0 ver1 cpu0 ours0 proc0 proc1 a b c d TIMEFORMAT='%3U %3S'
	for ((try = 1; ; try++)); do
		out="$work/wrk/${label}${path//\//_}.round$round.try$try.txt"
		log "round $round/$ROUNDS: wrk $label $path ($DURATION)"
		[[ $path != /write ]] || ver0=$(settled_ver "$label" "$c")
		cpu0=$(cpu_ticks)
		ours0=$(our_ticks)
		proc0=$(proc_ticks "$label")
		{ time wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${hdr[@]}" "$url" >"$out"; } 2>"$out.cpu"
		oth=$(other_pct "$cpu0" "$ours0" "$(cat "$out.cpu")")
		proc1=$(proc_ticks "$label")
		r=$(awk '/^Requests\/sec:/ {print $2}' "$out")
		l50=$(awk '$1 == "50%" {print $2; exit}' "$out")
		l99=$(awk '$1 == "99%" {print $2; exit}' "$out")
		n=$(awk '/ requests in / {print $1}' "$out")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
		sock=$(sed -n 's/^ *Socket errors: *//p' "$out")
		[[ -n $r && -n $l50 && -n $l99 && -n $n ]] || die "could not read wrk output $out"
		if [[ $path == /write ]]; then
			ver1=$(settled_ver "$label" "$c")
			saved[$key]=$((${saved[$key]:-0} + ver1 - ver0))
			answered[$key]=$((${answered[$key]:-0} + n - ${non2xx:-0}))
		fi
		errs[$key]=$((${errs[$key]:-0} + ${non2xx:-0}))
		if [[ -n $non2xx || -n $sock ]]; then
			notes+=("round $round, $label $path: ${non2xx:-0} non-2xx/3xx, socket errors: ${sock:-none} (wrk/$(basename "$out"))")
			# shellcheck disable=SC2046 # the numbers in "connect 0, read 3, ..."
			[[ -z $sock ]] || errs[$key]=$((errs[$key] + $(sum $(grep -o '[0-9]\+' <<<"$sock"))))
		fi
		if awk -v o="$oth" -v m="$MAX_OTHER" 'BEGIN {exit !(o <= m)}' || ((try > RETRIES)); then
			break
		fi
		log "  other processes took ${oth}% of the CPU: measuring again"
		repeats=$((repeats + 1))
	done
	rps[$key]+="$r "
	p50[$key]+="$(to_ms "$l50") "
	p99[$key]+="$(to_ms "$l99") "
	nreq[$key]+="$n "
	other[$key]+="$oth "
	# CPU microseconds per request of the proxy, the app, redis-server
	# and wrk.
	read -r a b c d < <(awk -v a="$proc0" -v b="$proc1" -v w="$(cat "$out.cpu")" -v n="$n" -v hz="$clk_tck" 'BEGIN {
		split(a, x); split(b, y); split(w, u); f = 1e6 / hz / n
		printf "%.1f %.1f %.1f %.1f\n", (y[1] - x[1]) * f, (y[2] - x[2]) * f, (y[3] - x[3]) * f, (u[1] + u[2]) * 1e6 / n }')
	cpu_proxy[$key]+="$a "
	cpu_app[$key]+="$b "
	cpu_redis[$key]+="$c "
	cpu_wrk[$key]+="$d "
	if [[ $label != bare ]]; then
		local bare
		bare=$(awk '{print $NF}' <<<"${rps[bare /read]}")
		ratio[$key]+="$(awk -v a="$r" -v b="$bare" 'BEGIN {printf "%.3f", a / b}') "
	fi
}

# The machine is rarely ours alone, and whatever else runs takes CPU from
# the run being measured. other_pct tells how much: the share of all CPU
# time during a wrk run (user+system over every CPU, from /proc/stat) that
# went neither to the processes this script started nor to wrk itself.
# cpu_ticks prints "busy total" ticks; our_ticks the ticks of our processes.
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '/^cpu / {b = $2 + $3 + $4; t = 0; for (i = 2; i <= NF; i++) t += $i; print b, t; exit}' /proc/stat; }
our_ticks() {
	local pid t=0
	for pid in "${pids[@]}"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
# proc_ticks LABEL prints the CPU ticks so far of the proxy named LABEL,
# the app and redis-server.
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
proc_ticks() {
	local v="pid_${1//-/_}"
	echo "$(ticks_of "${!v}") $(ticks_of "$pid_app") $(ticks_of "$pid_redis")"
}
# other_pct "BUSY0 TOTAL0" OURS0 "WRK_USER WRK_SYS" (seconds, from time)
other_pct() {
	awk -v c0="$1" -v o0="$2" -v w="$3" -v c1="$(cpu_ticks)" -v o1="$(our_ticks)" -v hz="$clk_tck" 'BEGIN {
		split(c0, a); split(c1, b); split(w, u)
		other = (b[1] - a[1]) - (o1 - o0) - (u[1] + u[2]) * hz
		if (other < 0) other = 0
		printf "%.1f", 100 * other / (b[2] - a[2]) }'
}

for ((round = 1; round <= ROUNDS; round++)); do
	for spec in "${targets[@]}"; do
		run_target "$round" "$spec"
	done
done

# ---- report ---------------------------------------------------------------

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
cat <<EOF

## Sidecar vs bare httputil.ReverseProxy ($(date -u +%Y-%m-%dT%H:%MZ))

wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s) through every target in turn
(a $WARMUP warm-up per target in round 1), loopback, $(nproc) CPUs ($cpu) shared by
wrk, the app, the proxy and redis-server.
Each cell is the median over the rounds; "vs bare" is the median of each round's
req/s divided by the bare proxy's req/s in the same round (min-max in brackets).
"other CPU" is the share of the machine's CPU time that went to processes this
script did not start while wrk ran (median, max): above a few percent, the
numbers in that row are depressed by someone else's work. Runs above
$MAX_OTHER% were repeated up to $RETRIES times; $repeats run(s) were repeated.
Sidecar log level: error (no access log), except sidecar-memory-info (level info,
one JSON access-log line per request to a file).

| target | path | req/s | p50 ms | p99 ms | vs bare | requests | errors | other CPU % |
|---|---|---:|---:|---:|---|---:|---:|---|
EOF
for spec in "${targets[@]}"; do
	IFS='|' read -r label _ path _ <<<"$spec"
	key="$label $path"
	# shellcheck disable=SC2086 # the values are space-separated numbers
	{
		r=$(median ${rps[$key]})
		l50=$(median ${p50[$key]})
		l99=$(median ${p99[$key]})
		total_n=$(sum ${nreq[$key]})
		if [[ $label == bare ]]; then
			vs="1.00"
		else
			vs="$(median ${ratio[$key]}) ($(printf '%s\n' ${ratio[$key]} | sort -g | sed -n '1p;$p' |
				xargs printf '%.2f-%.2f'))"
		fi
	}
	# shellcheck disable=SC2086
	oth="$(median ${other[$key]}), $(printf '%s\n' ${other[$key]} | sort -g | tail -n 1)"
	printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$label" "$path" "$r" "$l50" "$l99" "$vs" "$total_n" "${errs[$key]}" "$oth"
done

cat <<EOF

CPU time per request in microseconds (median over the rounds), from
/proc/PID/stat of each process and wrk's own user+system time. On a
saturated machine req/s is about $(nproc) CPUs divided by the total; the
kernel's share of loopback networking (softirq) is in none of the columns.

| target | path | proxy | app | redis-server | wrk | total |
|---|---|---:|---:|---:|---:|---:|
EOF
for spec in "${targets[@]}"; do
	IFS='|' read -r label _ path _ <<<"$spec"
	key="$label $path"
	# shellcheck disable=SC2086
	{
		a=$(median ${cpu_proxy[$key]})
		b=$(median ${cpu_app[$key]})
		c=$(median ${cpu_redis[$key]})
		d=$(median ${cpu_wrk[$key]})
	}
	printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n' "$label" "$path" "$a" "$b" "$c" "$d" \
		"$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {print a + b + c + d}')"
done

echo
echo "Write checks: the session's \"ver\" (one per saved write) read through the app before and after each measured /write run, against wrk's count of 2xx/3xx responses (a refused write must not be saved):"
for s in sidecar-memory sidecar-redis sidecar-bolt sidecar-bolt-nosync; do
	key="$s /write"
	verdict="ok: every successful write was saved; any extra were in flight when wrk stopped"
	if ((${saved[$key]} < ${answered[$key]})); then
		verdict="LOST WRITES: fewer saved than answered with success"
	elif ((${saved[$key]} > ${answered[$key]} + CONNS * (ROUNDS + repeats))); then
		verdict="UNEXPECTED: more saves than successful responses plus requests in flight"
	fi
	echo "- $s: ver +${saved[$key]} for ${answered[$key]} successful responses ($verdict)"
done
echo
if ((${#notes[@]} == 0)); then
	echo "wrk saw no non-2xx/3xx responses and no socket errors."
else
	echo "wrk reported errors:"
	printf -- '- %s\n' "${notes[@]}"
fi
for s in sidecar-memory sidecar-redis sidecar-bolt sidecar-bolt-nosync; do
	n=$(grep -c '"level":"error"' "$work/logs/$s.log" || true)
	echo "- $s logged $n error lines"
done
n=$(wc -l <"$work/logs/sidecar-memory-info.log")
echo "- sidecar-memory-info wrote $n log lines ($(du -h "$work/logs/sidecar-memory-info.log" | cut -f1)) to a file on disk"
