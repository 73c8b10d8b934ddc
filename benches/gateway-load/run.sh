#!/usr/bin/env bash
# Throughput of the example gateway with policies/aybiza.toml against the same gateway with no
# policy, on loopback, in one run (issue 7). Prints requests/s of each and their ratio.
#
#   bash benches/gateway-load/run.sh [SECONDS] [CONNECTIONS] [ROUNDS]
#
# Rounds alternate between the two gateways, and so does the order within a round (policy first
# in odd rounds, no policy first in even ones), so a drift of the machine's speed during a round
# does not favour one side; each round's ratio compares two runs seconds apart, so the median of
# the per-round ratios is the number to quote on a busy machine (best against best is printed
# too). Before the rounds, each gateway serves one unmeasured run of the same length: the policy
# gateway meets most of the 50,000 clients for the first time then (a new rate-limit key each),
# which is a start-up transient, not the steady state the rounds measure. It also prints each gateway's own CPU time per request (from
# /proc/PID/stat around each run): on a shared machine that ratio moves much less than req/s.
#
# Needs `wrk` (apt-get install wrk). Everything listens on 127.0.0.1 only and stops at the end.
# The load generator plays the Cloudflare edge: the script runs a copy of aybiza.toml that also
# trusts 127.0.0.0/8, and wrk sends a cf-connecting-ip drawn from 50,000 clients (random_client.lua).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
conns="${2:-32}"
rounds="${3:-5}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p edgeroute-tower --bin edgeroute-gateway --example load_upstream
bin="$CARGO_TARGET_DIR/release"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

sed 's/^trusted_proxies = \["cloudflare"\]/trusted_proxies = ["cloudflare", "127.0.0.0\/8"]/' \
  policies/aybiza.toml > "$work/aybiza-loopback.toml"
grep -q '127.0.0.0/8' "$work/aybiza-loopback.toml" || { echo "could not patch trusted_proxies" >&2; exit 1; }

up=127.0.0.1:18181
"$bin/examples/load_upstream" "$up" > /dev/null & pids+=($!)
# Every endpoint address named in the policy resolves to the one local upstream.
resolve=()
while read -r name; do resolve+=(--resolve "$name=$up"); done < <(
  grep -o 'address = "[^"]*"' policies/aybiza.toml | sed 's/address = "\(.*\)"/\1/' | sort -u)

"$bin/edgeroute-gateway" --policy "$work/aybiza-loopback.toml" --listen 127.0.0.1:18180 \
  --admin 127.0.0.1:18190 --upstream "$up" "${resolve[@]}" > /dev/null 2> "$work/policy.log" & pids+=($!)
policy_pid=$!
"$bin/edgeroute-gateway" --listen 127.0.0.1:18280 --admin 127.0.0.1:18290 --upstream "$up" \
  > /dev/null 2> "$work/plain.log" & pids+=($!)
plain_pid=$!
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
hz=$(getconf CLK_TCK)
run() { # URL PID -> "requests/s CPU-µs-per-request" (the gateway's own CPU time per request)
  local before after out
  before=$(cpu_ticks "$2")
  out=$(wrk -t1 -c"$conns" -d"${secs}s" -s benches/gateway-load/random_client.lua "$1")
  after=$(cpu_ticks "$2")
  awk -v b="$before" -v a="$after" -v hz="$hz" '
    / requests in / {n=$1} /Requests\/sec/ {r=$2}
    END {printf "%s %.1f\n", r, (a-b)/hz*1e6/n}' <<< "$out"
}
check() { # the policy gateway must forward (200), not refuse
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: api.aybiza.com' \
    -H 'cf-connecting-ip: 81.2.69.160' "$1/api/v1/agents" || true)
  [ "$code" = 200 ] || { echo "$1 answered $code, expected 200" >&2; cat "$work"/*.log >&2; exit 1; }
}
check http://127.0.0.1:18180
check http://127.0.0.1:18280

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk: 1 thread, $conns connections, ${secs}s per run, $rounds rounds alternating"
run http://127.0.0.1:18180/ "$policy_pid" > /dev/null
run http://127.0.0.1:18280/ "$plain_pid" > /dev/null
echo "warm-up: one unmeasured ${secs}s run on each gateway"
best_policy=0; best_plain=0; ratios=(); cpu_ratios=()
for i in $(seq "$rounds"); do
  if (( i % 2 )); then
    read -r p pc < <(run http://127.0.0.1:18180/ "$policy_pid")
    read -r n nc < <(run http://127.0.0.1:18280/ "$plain_pid")
  else
    read -r n nc < <(run http://127.0.0.1:18280/ "$plain_pid")
    read -r p pc < <(run http://127.0.0.1:18180/ "$policy_pid")
  fi
  r=$(awk -v p="$p" -v n="$n" 'BEGIN{printf "%.3f", p/n}')
  c=$(awk -v p="$pc" -v n="$nc" 'BEGIN{printf "%.3f", n/p}')
  ratios+=("$r"); cpu_ratios+=("$c")
  echo "round $i: aybiza policy $p req/s ($pc µs CPU/request), no policy $n req/s ($nc µs CPU/request), ratio $r (CPU: $c)"
  best_policy=$(awk -v a="$best_policy" -v b="$p" 'BEGIN{print (b>a)?b:a}')
  best_plain=$(awk -v a="$best_plain" -v b="$n" 'BEGIN{print (b>a)?b:a}')
done
median() { sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
awk -v p="$best_policy" -v n="$best_plain" \
  'BEGIN{printf "best: aybiza policy %.0f req/s, no policy %.0f req/s, ratio %.3f\n", p, n, p/n}'
echo "median of per-round ratios: $(printf '%s\n' "${ratios[@]}" | median)"
echo "median gateway CPU-time ratio (no policy / policy, per request): $(printf '%s\n' "${cpu_ratios[@]}" | median)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
