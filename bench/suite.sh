#!/usr/bin/env bash
# The standard `make bench` suite: short, bounded runs of `wspush bench`
# against local servers, one table each. The JSON results go to $OUT.
#
#   WSPUSH=./wspush OUT=/tmp/wspush-bench bash bench/suite.sh
#
# Two servers run for it: `serve --echo` for the echo run, `serve` (client
# protocol and HTTP API) for idle, push and broadcast. Every step is bounded
# by --timeout and by timeout(1); the suite goes on past a failed step and
# exits non-zero at the end if any failed.
set -u
WSPUSH=${WSPUSH:-./wspush}
OUT=${OUT:-/tmp/wspush-bench}
PORT=${PORT:-18080}        # serve (protocol + API on PORT+1)
ECHO_PORT=${ECHO_PORT:-18090}  # serve --echo (its API on ECHO_PORT+1)
CONNS=${CONNS:-10000}
mkdir -p "$OUT"

pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

# wait_port waits up to 5s for a listener on 127.0.0.1:$1.
wait_port() {
	i=0
	while ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 50 ] && { echo "no server on port $1" >&2; return 1; }
		sleep 0.1
	done
}

# The server gets the API address from the environment, so the suite
# works whether or not this build has the --api-addr flag.
WSPUSH_API_ADDR=127.0.0.1:$((PORT + 1)) WSPUSH_MAX_RATE=-1 \
	"$WSPUSH" serve --addr 127.0.0.1:$PORT --log-level warn &
serve_pid=$!; pids="$pids $serve_pid"
WSPUSH_API_ADDR=127.0.0.1:$((ECHO_PORT + 1)) WSPUSH_MAX_RATE=-1 \
	"$WSPUSH" serve --echo --addr 127.0.0.1:$ECHO_PORT --log-level warn &
echo_pid=$!; pids="$pids $echo_pid"
wait_port $PORT && wait_port $ECHO_PORT || exit 1

failed=""
step() {
	name=$1; shift
	echo "== $name: wspush bench $*"
	timeout 120 "$WSPUSH" bench "$@" --timeout 90s --json-out "$OUT/$name.json" || failed="$failed $name"
	echo
}

URL=ws://127.0.0.1:$PORT/ws
API=http://127.0.0.1:$((PORT + 1))
step idle      idle      --url $URL --conns $CONNS --workers 2 --ramp 5000 --hold 5s --server-pid $serve_pid
step connect   connect   --url ws://127.0.0.1:$ECHO_PORT/ws --conns 5000 --server-pid $echo_pid
step echo      echo      --url ws://127.0.0.1:$ECHO_PORT/ws --conns 100 --size 64 --duration 5s --server-pid $echo_pid
step push      push      --url $URL --api $API --conns 1000 --rate 500 --duration 5s --server-pid $serve_pid
step broadcast broadcast --url $URL --api $API --conns $CONNS --workers 2 --ramp 5000 --count 10 --rate 2 --server-pid $serve_pid

echo "results: $OUT/*.json"
if [ -n "$failed" ]; then
	echo "failed:$failed"
	exit 1
fi
