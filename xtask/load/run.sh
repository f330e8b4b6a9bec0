#!/usr/bin/env bash
# Load test of the development registry with 10,000 registered instances (the figures in
# BENCHMARKS.md): renewals/s and gzipped JSON full-registry GETs/s with Debian's wrk,
# resident memory, time to start, and full fetches while 1,100 connections send their
# headers a byte a second. The registry runs under the usual open-file limit of 1,024.
# Run from the repository root:
#   bash xtask/load/run.sh [SECONDS_PER_RUN]
set -euo pipefail
secs=${1:-10}
here=$(dirname "$0")
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p sd-cli
sd=target/release/sd

out=$(mktemp)
sh -c 'ulimit -n 1024 && exec "$0" eureka serve --addr 127.0.0.1:0' "$sd" > "$out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
addr=$(sed -n 's|listening on http://\([^/]*\)/.*|\1|p' "$out")
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status"; }

echo "idle: $(rss)"
python3 "$here/populate.py" "$addr" 100 100
echo "with 10,000 instances: $(rss)"
echo "renewals (2 threads, 64 connections, ${secs}s):"
wrk -t2 -c64 -d"${secs}s" -s "$here/renew.lua" "http://$addr" | grep -E "Requests/sec|Latency|errors"
echo "after renewals: $(rss)"
echo "full registry, JSON + gzip (2 threads, 16 connections, ${secs}s):"
wrk -t2 -c16 -d"${secs}s" -s "$here/get-apps.lua" "http://$addr" | grep -E "Requests/sec|Latency|errors"
echo "after full-registry GETs: $(rss)"
echo "slow connections (1,100 at a byte a second, reopened when closed; ${secs}s):"
python3 "$here/slow.py" "$addr" 1100 "$secs"
echo "after slow connections: $(rss)"
python3 "$here/startup.py" "$sd" 20
