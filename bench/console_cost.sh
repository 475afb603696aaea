#!/usr/bin/env bash
# The console's cost to a broadcast: server CPU per receiver with the
# console's overview stream and a live tail open, against none, the same
# build in turns in one sitting (docs/benchmarks.md, "The console's cost").
#
#   bash bench/console_cost.sh BINARY [ROUNDS]
#
# As bench/ab.sh: each round runs `wspush bench broadcast` (10,000
# connections over 2 workers, 45 broadcasts at 1/s) against a fresh server
# in development mode; in the "watched" runs two curl clients hold
# /console/api/overview/stream and /console/api/tail open throughout.
# Server CPU is the sum of /proc/PID/task/*/schedstat between 14 s and 39 s
# into the bench, divided by the 250,000 copies delivered in that window.
# Bounded: each bench and curl has a timeout, each server is killed after
# its run.
set -u
BIN=$1 ROUNDS=${2:-3}
PORT=${PORT:-18380}
CONNS=${CONNS:-10000}
OUT=${OUT:-/tmp/wspush-console-cost}
mkdir -p "$OUT"

cpu_ns() { awk '{s += $1} END {printf "%.0f\n", s}' /proc/"$1"/task/*/schedstat 2>/dev/null; }

wait_port() {
	i=0
	while ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "no server on port $1" >&2; return 1; }
		sleep 0.1
	done
}

run() { # run NAME WATCH ROUND
	name=$1 watch=$2 round=$3
	api=http://127.0.0.1:$((PORT + 1))
	"$BIN" serve --addr 127.0.0.1:$PORT --api-addr 127.0.0.1:$((PORT + 1)) \
		--ping-interval 10m --idle-timeout 20m --max-rate -1 --log-level warn &
	pid=$!
	wait_port $((PORT + 1)) || { kill $pid; return 1; }
	cpids=""
	if [ "$watch" = 1 ]; then
		curl -sN --max-time 90 "$api/console/api/overview/stream" >"$OUT/$name-$round.overview" &
		cpids="$cpids $!"
		curl -sN --max-time 90 "$api/console/api/tail" >"$OUT/$name-$round.tail" &
		cpids="$cpids $!"
		sleep 1
	fi
	"$BIN" bench broadcast --url ws://127.0.0.1:$PORT/ws --api "$api" \
		--conns "$CONNS" --workers 2 --count 45 --rate 1 --timeout 120s \
		--json >"$OUT/$name-$round.json" 2>"$OUT/$name-$round.err" &
	bpid=$!
	sleep 14; a=$(cpu_ns $pid)
	sleep 25; b=$(cpu_ns $pid)
	wait $bpid
	for c in $cpids; do kill "$c" 2>/dev/null; wait "$c" 2>/dev/null; done
	kill $pid; wait $pid 2>/dev/null
	p50=$(grep -o '"p50_ms": *[0-9.]*' "$OUT/$name-$round.json" | tail -1 | cut -d: -f2 | tr -d ' ')
	extra=""
	[ "$watch" = 1 ] && extra=" ($(grep -c '^event: point' "$OUT/$name-$round.overview") overview points, $(grep -c '^event: event' "$OUT/$name-$round.tail") tail events, $(grep -c '^event: sampled' "$OUT/$name-$round.tail") sampling notices)"
	printf '%s round %d: %.2f us/receiver, last receiver p50 %s ms%s\n' "$name" "$round" \
		"$(echo "($b - $a) / 250000 / 1000" | bc -l)" "${p50:-?}" "$extra"
	sleep 2
}

for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run unwatched 0 "$r"; run watched 1 "$r"; else run watched 1 "$r"; run unwatched 0 "$r"; fi
done
