#!/bin/bash
# rss_breakdown.sh BIN [N]: where a wspush process's RSS goes with N idle
# protocol connections (10,000 by default), as a dashboard reads it (no
# forced GC): /proc/PID/status and the Go runtime's gauges from /metrics,
# with none and with N, so that the RSS growth can be split into the Go
# heap, GC metadata, stacks and code pages (docs/benchmarks.md, "The
# console's directory slimmed"). The connections come from peerbench's
# loadclient ($PEERBENCH, /tmp/pb-mem by default, built by its run.sh).
# It starts one server on 127.0.0.1:9401 (API :9402) and stops only it.
set -eu
BIN=$1
N=${2:-10000}
PB=${PEERBENCH:-/tmp/pb-mem}
"$BIN" serve --addr 127.0.0.1:9401 --api-addr 127.0.0.1:9402 >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
gauges() {
	echo "== $1"
	grep -E "VmRSS|RssAnon|RssFile" /proc/$PID/status | tr -s ' \t' ' '
	curl -s 127.0.0.1:9402/metrics | grep -E '^go_memstats_(heap_inuse|gc_sys|stack_inuse|mspan_inuse|other_sys)_bytes|^go_gc_duration_seconds_count|^wspush_connections '
}
for _ in $(seq 1 50); do curl -sf 127.0.0.1:9402/metrics >/dev/null && break; sleep 0.1; done
gauges "0 connections"
timeout 60 "$PB/bin/loadclient" -url ws://127.0.0.1:9401/ws -n "$N" -proto wspush -echo-conns 0 -bcasts 1 -settle 6s >/dev/null 2>&1 &
for _ in $(seq 1 120); do
	sleep 0.25
	[ "$(curl -s 127.0.0.1:9402/metrics | awk '$1 == "wspush_connections" {print $2}')" = "$N" ] && break
done
sleep 3.5 # as peerbench settles, past the engine's release after a burst (1s quiet)
gauges "$N connections"
