#!/usr/bin/env bash
# Speed of hotcold on one core against an independent SimPy model of the same traffic, measured
# side by side in one run on this machine, and the two models' agreement on the counts.
#
#   scripts/simpy-ratio.sh [SCENARIO] [HOTCOLD_BINARY]
#
# SCENARIO defaults to bench/simpy/shopflow-1d.yaml (one ShopFlow day at sample 0.15: SimPy takes
# 30 to 90 s), HOTCOLD_BINARY to ./target/release/hotcold. It runs ROUNDS times, alternating which
# goes first: `HOTCOLD simulate SCENARIO --shards 1 --quiet --out DIR` and
# `python3 bench/simpy/hotcold_simpy.py SCENARIO`, each pinned to the same core. Then it prints
# each run's requests per wall second (each model's own timing of its simulation; the whole
# command's wall time beside it), the median ratio hotcold / SimPy, and the relative difference
# of requests, creations, hot hits, promotions and demotions (hotcold's summary.json against
# the SimPy model's counts scaled by 1/sample).
#
# Environment: ROUNDS (default 3), SAMPLE (passed as --sample to both), CORE (the core both are
# pinned to, default 0; `none` to not pin), PYTHON (default python3), KEEP=1 keeps the run
# directories. Needs `pip install -r bench/simpy/requirements.txt`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
scenario=${1:-$here/bench/simpy/shopflow-1d.yaml}
hotcold=${2:-$here/target/release/hotcold}
rounds=${ROUNDS:-3}
core=${CORE:-0}
python=${PYTHON:-python3}
model=$here/bench/simpy/hotcold_simpy.py

[[ -f $scenario ]] || { echo "no scenario $scenario" >&2; exit 2; }
[[ -x $hotcold ]] || { echo "no hotcold binary $hotcold (cargo build --release)" >&2; exit 2; }
"$python" -c 'import simpy, yaml' 2>/dev/null \
  || { echo "SimPy missing: pip install -r bench/simpy/requirements.txt" >&2; exit 2; }

pin=()
if [[ $core != none ]] && command -v taskset >/dev/null; then pin=(taskset -c "$core"); fi
sample_args=()
[[ -n ${SAMPLE:-} ]] && sample_args=(--sample "$SAMPLE")

work=$(mktemp -d /tmp/simpy-ratio.XXXXXX)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
run_hotcold() {
  local t0 t1
  t0=$(now)
  "${pin[@]}" "$hotcold" simulate "$scenario" --shards 1 --quiet "${sample_args[@]}" \
    --out "$work/hotcold-$1" >"$work/hotcold-$1.log" 2>&1 \
    || { cat "$work/hotcold-$1.log" >&2; exit 1; }
  t1=$(now)
  echo "$t0 $t1" >"$work/hotcold-$1.time"
}
run_simpy() {
  local t0 t1
  t0=$(now)
  "${pin[@]}" "$python" "$model" "$scenario" "${sample_args[@]}" \
    --out "$work/simpy-$1.json" >/dev/null
  t1=$(now)
  echo "$t0 $t1" >"$work/simpy-$1.time"
}

echo "scenario $scenario${SAMPLE:+ (sample $SAMPLE)}; hotcold $hotcold; $rounds rounds; core ${core}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then run_hotcold "$r"; run_simpy "$r"; else run_simpy "$r"; run_hotcold "$r"; fi
  echo "round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$work" "$rounds" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])

def span(path):
    a, b = open(path).read().split()
    return float(b) - float(a)

rows, ratios = [], []
for r in range(1, rounds + 1):
    h = json.load(open(f"{work}/hotcold-{r}/summary.json"))
    s = json.load(open(f"{work}/simpy-{r}.json"))
    # hotcold's summary counts are scaled by 1/sample: its rate is the requests it simulated
    # (requests x sample) per second of its own wall time (run.wall_seconds)
    h_rps = h["requests"] * h["sample"] / h["run"]["wall_seconds"]
    s_rps = s["requests_per_second"]
    ratios.append(h_rps / s_rps)
    rows.append((r, h_rps, h["run"]["wall_seconds"], span(f"{work}/hotcold-{r}.time"),
                 s_rps, s["wall_seconds"], span(f"{work}/simpy-{r}.time"), h_rps / s_rps))

print()
print("| round | hotcold req/s | hotcold run s (command s) | SimPy req/s | SimPy run s (command s) | hotcold / SimPy |")
print("|---:|---:|---:|---:|---:|---:|")
for r, hr, hw, hc, sr, sw, scmd, q in rows:
    print(f"| {r} | {hr:,.0f} | {hw:.2f} ({hc:.2f}) | {sr:,.0f} | {sw:.2f} ({scmd:.2f}) | {q:,.1f} |")
print(f"\nmedian ratio hotcold / SimPy: {statistics.median(ratios):,.1f} "
      f"(range {min(ratios):,.1f} to {max(ratios):,.1f})")

# agreement: last round (both models are deterministic for a seed)
h = json.load(open(f"{work}/hotcold-{rounds}/summary.json"))
s = json.load(open(f"{work}/simpy-{rounds}.json"))
hs, ss, hc = h["sessions"], s["scaled"], h.get("hot_cold", {})
pairs = [
    ("requests", h["requests"], ss["requests"]),
    ("sessions created", hs["created"], ss["created"]),
    ("hot hits", hs["hot_hits"], ss["hot_hits"]),
    ("cold promotions", hs["cold_promotions"], ss["cold_promotions"]),
    ("demotions", hs["demoted"], ss["demoted"]),
    ("logged out", hs.get("logged_out"), ss["logged_out"]),
    ("invalid lookups", hs.get("invalid_lookups"), ss["invalid_lookups"]),
    ("hot_avg", hc.get("hot_avg"), s["hot_cold_scaled"]["hot_avg"]),
    ("cold_avg", hc.get("cold_avg"), s["hot_cold_scaled"]["cold_avg"]),
]
print(f"\nagreement (scaled to sample 1.0; sample {h['sample']}, seed {h['seed']}):\n")
print("| count | hotcold | SimPy | (SimPy - hotcold) / hotcold |")
print("|---|---:|---:|---:|")
for name, a, b in pairs:
    if a is None:
        continue
    rel = f"{(b - a) / a * 100:+.2f} %" if a else ("0" if b == 0 else "n/a")
    print(f"| {name} | {a:,.0f} | {b:,.0f} | {rel} |")
EOF
[[ ${KEEP:-0} == 1 ]] && echo "run directories kept in $work"
exit 0
