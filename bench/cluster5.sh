#!/usr/bin/env bash
# Capacity beyond one process (docs/benchmarks.md, "Five nodes, 90,000
# connections"): five wspush nodes and one redis-server on this machine,
# `wspush bench broadcast` with 90,000 connections over 5 worker processes
# spread over the nodes' URLs, 10 broadcasts through node 1's API. Every
# step is bounded (bench --timeout; everything is killed at the end).
#
#   W=./wspush OUT=/tmp/c5 bash bench/cluster5.sh
set -u
W=${W:-./wspush}; OUT=${OUT:-/tmp/c5}; RP=${RP:-16379}
mkdir -p "$OUT"
pids=""
cleanup() { for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no --daemonize no > $OUT/redis.log 2>&1 &
rpid=$!; pids="$pids $rpid"; sleep 0.5
urls=""
for n in 1 2 3 4 5; do
  $W serve --addr 127.0.0.1:1808$n --api-addr 127.0.0.1:1818$n --redis redis://127.0.0.1:$RP/0 \
    --cluster-secret c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5 --ping-interval 10m --idle-timeout 20m --max-rate -1 \
    --api-max-conns 16 --max-conns 18100 --log-level warn > $OUT/node$n.log 2>&1 &
  pids="$pids $!"; eval "np$n=$!"
  urls="$urls,ws://127.0.0.1:1808$n/ws"
done
urls=${urls#,}
sleep 1
echo "nodes up: $(date +%T)"
$W bench broadcast --url "$urls" --api http://127.0.0.1:18181 --conns 90000 --workers 5 --count 10 --rate 1 \
  --timeout 240s --json > $OUT/bench.json 2> $OUT/bench.err &
bpid=$!
# While connected: Redis figures. The channel count comes from `info
# stats` (the user channels and a few of the cluster's own): listing
# 90,000 channels (PUBSUB CHANNELS wspush:u:*) holds Redis for 1-1.6 s here,
# long enough for the nodes' 2 s bound to call Redis down.
for i in $(seq 1 120); do
  n=$(redis-cli -p $RP info stats 2>/dev/null | tr -d '\r' | sed -n 's/^pubsub_channels://p')
  [ "${n:-0}" -ge 89000 ] && break
  sleep 1
done
echo "subscribed channels: $n at $(date +%T)"
redis-cli -p $RP info memory | grep -E "used_memory_human|used_memory_peak_human"
redis-cli -p $RP dbsize
for n in 1 2 3 4 5; do eval "p=\$np$n"; grep -E "VmRSS" /proc/$p/status | sed "s/^/node$n /"; done
wait $bpid
echo "bench done: $(date +%T)"
for n in 1 2 3 4 5; do eval "p=\$np$n"; grep -E "VmRSS" /proc/$p/status | sed "s/^/node$n /"; done
