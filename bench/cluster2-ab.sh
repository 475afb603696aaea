#!/usr/bin/env bash
# Cluster push throughput, one binary against another (docs/benchmarks.md,
# "Two nodes, before and after"): one redis-server, two wspush nodes,
# `wspush bench push` with 2,000 connections spread over both nodes and the
# API calls spread over both APIs, at a fixed rate for a fixed time. The
# bench is always the new one ($B); only the server ($W) changes. Each run
# starts from a fresh Redis and fresh nodes; everything is killed on exit.
#
#   W=/tmp/wspush-old B=./wspush OUT=/tmp/c2/old-1 RATE=3000 bash bench/cluster2-ab.sh
set -u
W=${W:-./wspush}; B=${B:-./wspush}; OUT=${OUT:-/tmp/c2}; RP=${RP:-16380}
RATE=${RATE:-3000}; DUR=${DUR:-20s}; CONNS=${CONNS:-2000}
mkdir -p "$OUT"
pids=""
cleanup() { for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no --daemonize no > $OUT/redis.log 2>&1 &
pids="$pids $!"; sleep 0.5
# --cluster-secret only where the binary knows it (f3d68ef does not).
extra=""
$W serve --help 2>&1 | grep -q -- -cluster-secret && extra="--cluster-secret c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"
for n in 1 2; do
  timeout 300 $W serve --addr 127.0.0.1:1809$n --api-addr 127.0.0.1:1819$n --redis redis://127.0.0.1:$RP/0 $extra \
    --ping-interval 10m --idle-timeout 20m --max-rate -1 --log-level warn > $OUT/node$n.log 2>&1 &
  pids="$pids $!"
done
sleep 1
# Others' processes share the two cores: name their test binaries, and
# count the CPU time the machine spent outside this run (jiffies, 100 a
# second: user nice system irq softirq steal of /proc/stat, less what the
# nodes, Redis and the bench used).
( for i in $(seq 1 60); do pgrep -a -f '\.test( |$)' | grep -v -- "$OUT" >> $OUT/others.txt; sleep 2; done ) &
spid=$!; pids="$pids $spid"
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
ours() { t=0; for p in $pids $(for q in $pids; do pgrep -P $q; done); do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
cat /proc/loadavg > $OUT/load.txt
b0=$(busy); o0=$(ours); t0=$(date +%s.%N)
timeout 180 $B bench push --url ws://127.0.0.1:18091/ws,ws://127.0.0.1:18092/ws \
  --api http://127.0.0.1:18191,http://127.0.0.1:18192 \
  --conns $CONNS --rate $RATE --duration $DUR --timeout 150s --json > $OUT/bench.json 2> $OUT/bench.err
rc=$?
b1=$(busy); o1=$(ours); t1=$(date +%s.%N)
cat /proc/loadavg >> $OUT/load.txt
bench=$(python3 -c "import json; b=json.load(open('$OUT/bench.json'))['bench']; print(b['cpu_user_s']+b['cpu_sys_s'])" 2>/dev/null || echo 0)
echo "$t0 $t1 $b0 $b1 $o0 $o1 $bench" | awk '{w=$2-$1; printf "wall %.1f s, machine busy %.1f s of %.1f, nodes+redis %.1f s, bench %.1f s, others %.1f s\n", w, ($4-$3)/100, 2*w, ($6-$5)/100, $7, ($4-$3-$6+$5)/100-$7}' | tee $OUT/cpu.txt
echo "exit $rc"
