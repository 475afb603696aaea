#!/usr/bin/env bash
# Capacity beyond one process, per-user pushes (docs/benchmarks.md, "Five
# nodes, 90,000 connections"): five wspush nodes and one redis-server on
# this machine, `wspush bench push` with 90,000 connections over 5 worker
# processes spread over the nodes' URLs, and the pushes spread over the five
# APIs. With HIST=1 the nodes keep history (--history-size 100
# --history-ttl 10m). With RESTART=1 they do too, and RESTART_AT seconds
# into the pushes Redis is killed (SIGKILL) and started again, empty, on
# the same port DOWN seconds later; the script prints when it answered
# again and when the nodes had subscribed every channel again. Every step
# is bounded (bench --timeout, timeout(1), counted polls); everything is
# killed on exit.
#
#   W=./wspush OUT=/tmp/c5p bash bench/cluster5-push.sh
#   W=./wspush OUT=/tmp/c5h HIST=1 bash bench/cluster5-push.sh
#   W=./wspush OUT=/tmp/c5r RESTART=1 DUR=60s bash bench/cluster5-push.sh
set -u
W=${W:-./wspush}; OUT=${OUT:-/tmp/c5p}; RP=${RP:-16379}
RATE=${RATE:-1000}; DUR=${DUR:-30s}; RESTART=${RESTART:-0}; RESTART_AT=${RESTART_AT:-15}; DOWN=${DOWN:-3}
CONNS=90000
mkdir -p "$OUT"
pids=""; rpid=""
cleanup() { for p in $pids $rpid; do kill $p 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
now() { date +%s.%N; }
startRedis() {
  redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no --daemonize no >> $OUT/redis.log 2>&1 &
  rpid=$!
}
# Channels Redis holds, from `info stats`: the 90,000 user channels and a
# few of the cluster's own. Never list them (PUBSUB CHANNELS wspush:u:*)
# under load: with 90,000 channels that one call holds Redis for 1-1.6 s
# here, long enough for the nodes' 2 s bound to call Redis down.
channels() { redis-cli -p $RP info stats 2>/dev/null | tr -d '\r' | sed -n 's/^pubsub_channels://p'; }
metrics() { # node N's cluster counters
  curl -s -m 5 http://127.0.0.1:1818$1/metrics | grep -E '^wspush_(redis_up|redis_reconnects_total|cluster_unavailable_total|cluster_refused_total|resume_gaps_total|connections) ' | tr '\n' ' '
}
startRedis; sleep 0.5
HIST=${HIST:-$RESTART}
hist=""; [ "$HIST" = 1 ] && hist="--history-size 100 --history-ttl 10m"
urls=""; apis=""; np=""
for n in 1 2 3 4 5; do
  timeout 600 $W serve --addr 127.0.0.1:1808$n --api-addr 127.0.0.1:1818$n --redis redis://127.0.0.1:$RP/0 \
    --cluster-secret c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5 --ping-interval 10m --idle-timeout 20m --max-rate -1 \
    --api-max-conns 16 --max-conns 18100 --log-level warn $hist > $OUT/node$n.log 2>&1 &
  pids="$pids $!"; sleep 0.1; np="$np $(pgrep -P $!)" # the node, not timeout(1)
  urls="$urls,ws://127.0.0.1:1808$n/ws"; apis="$apis,http://127.0.0.1:1818$n"
done
urls=${urls#,}; apis=${apis#,}
sleep 1
echo "nodes up: $(date +%T)"
timeout 500 $W bench push --url "$urls" --api "$apis" --conns $CONNS --workers 5 --rate $RATE --duration $DUR \
  --grace 15s --timeout 420s --json > $OUT/bench.json 2> $OUT/bench.err &
bpid=$!; pids="$pids $bpid"
n=0
for i in $(seq 1 200); do
  n=$(channels); [ "${n:-0}" -ge $CONNS ] && break
  sleep 1
done
t0=$(now)
base=$(channels)
echo "channels: $base at $(date +%T) (pushes start about now)"
redis-cli -p $RP info memory | tr -d '\r' | grep -E "^used_memory_human|^used_memory_peak_human"
echo "keys: $(redis-cli -p $RP dbsize)"
for p in $np; do grep VmRSS /proc/$p/status | sed "s/^/pid $p /"; done
if [ "$RESTART" = 1 ]; then
  sleep $RESTART_AT
  for n in 1 2 3 4 5; do echo "node$n before: $(metrics $n)"; done
  kill -9 $rpid; wait $rpid 2>/dev/null; tk=$(now)
  echo "redis killed at $(date +%T.%N), $(echo "$tk - $t0" | bc) s into the pushes"
  sleep $DOWN
  startRedis
  for i in $(seq 1 100); do redis-cli -p $RP ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  tb=$(now)
  echo "redis back at $(date +%T.%N), $(echo "$tb - $tk" | bc) s after the kill"
  # Every 0.1 s for at most 120 s: channels, as a time series.
  c=0
  for i in $(seq 1 1200); do
    c=$(channels); echo "$(echo "$(now) - $tb" | bc) ${c:-0}" >> $OUT/resubscribe.txt
    [ "${c:-0}" -ge "$base" ] && break
    sleep 0.1
  done
  ts=$(now)
  echo "channels back to $c (before: $base) $(echo "$ts - $tb" | bc) s after Redis's return"
  for i in $(seq 1 100); do
    up=0; for n in 1 2 3 4 5; do metrics $n | grep -q 'wspush_redis_up 1' && up=$((up+1)); done
    [ $up = 5 ] && break; sleep 0.1
  done
  echo "nodes with wspush_redis_up 1: $up, $(echo "$(now) - $tb" | bc) s after Redis's return"
fi
wait $bpid; rc=$?
echo "bench done: $(date +%T), exit $rc"
for p in $np; do grep VmRSS /proc/$p/status | sed "s/^/pid $p /"; done
for n in 1 2 3 4 5; do echo "node$n after: $(metrics $n)"; done
redis-cli -p $RP info memory | tr -d '\r' | grep -E "^used_memory_human|^used_memory_peak_human"
echo "keys: $(redis-cli -p $RP dbsize)"
redis-cli -p $RP info commandstats | tr -d '\r' | sort -t= -k3 -rn | head -5
