#!/usr/bin/env bash
# A/B: server CPU per broadcast receiver and last-receiver latency of two
# wspush builds, run in turns in one sitting (docs/benchmarks.md,
# "Broadcast to 10,000 connections").
#
#   bash bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Each round runs `wspush bench broadcast` (10,000 connections over 2
# workers, 45 broadcasts at 1/s) against a fresh server of each build,
# alternating which goes first. Server CPU is the sum of the first field
# of /proc/PID/task/*/schedstat between 14 s and 39 s into the bench,
# divided by the 250,000 copies delivered in that window. The bench client
# is NEW_BINARY's. Bounded: each bench has a --timeout, each server is
# killed after its run.
set -u
OLD=$1 NEW=$2 ROUNDS=${3:-3}
PORT=${PORT:-18280}
CONNS=${CONNS:-10000}
OUT=${OUT:-/tmp/wspush-ab}
mkdir -p "$OUT"

cpu_ns() { # the server's run time so far, ns
	awk '{s += $1} END {printf "%.0f\n", s}' /proc/"$1"/task/*/schedstat 2>/dev/null
}

wait_port() {
	i=0
	while ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "no server on port $1" >&2; return 1; }
		sleep 0.1
	done
}

run() { # run NAME BINARY ROUND
	name=$1 bin=$2 round=$3
	"$bin" serve --addr 127.0.0.1:$PORT --api-addr 127.0.0.1:$((PORT + 1)) \
		--ping-interval 10m --idle-timeout 20m --max-rate -1 --log-level warn &
	pid=$!
	wait_port $PORT || { kill $pid; return 1; }
	"$NEW" bench broadcast --url ws://127.0.0.1:$PORT/ws --api http://127.0.0.1:$((PORT + 1)) \
		--conns "$CONNS" --workers 2 --count 45 --rate 1 --timeout 120s \
		--json >"$OUT/$name-$round.json" 2>"$OUT/$name-$round.err" &
	bpid=$!
	sleep 14; a=$(cpu_ns $pid)
	sleep 25; b=$(cpu_ns $pid)
	wait $bpid
	kill $pid; wait $pid 2>/dev/null
	p50=$(grep -o '"p50_ms": *[0-9.]*' "$OUT/$name-$round.json" | tail -1 | cut -d: -f2 | tr -d ' ')
	printf '%s round %d: %.2f us/receiver, last receiver p50 %s ms\n' "$name" "$round" \
		"$(echo "($b - $a) / 250000 / 1000" | bc -l)" "${p50:-?}"
	sleep 2
}

for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run old "$OLD" "$r"; run new "$NEW" "$r"; else run new "$NEW" "$r"; run old "$OLD" "$r"; fi
done
