#!/usr/bin/env bash
# Runs `ipt bench` and the PyTorch peer (scripts/bench_torch.py, Debian's
# python3-torch) alternately on the same machine, 1 and 2 threads, and prints
# medians and ratios. The peer runs at its best (scripts/peer_env.sh).
# Usage: scripts/bench_vs_torch.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peer_env.sh
rounds=${1:-3}
go build -o "${TMPDIR:-/tmp}/ipt-bench" .
ipt=${TMPDIR:-/tmp}/ipt-bench
out=$(mktemp)
for r in $(seq "$rounds"); do
  for t in 1 2; do
    echo "go $t $("$ipt" bench --json --threads "$t" --tiles 8 --runs 3)" >> "$out"
    echo "torch $t $(peer "$t" /usr/bin/python3 scripts/bench_torch.py --threads "$t" -n 8 -r 3 | tail -1)" >> "$out"
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, t, js = line.split(" ", 2)
    rows.setdefault((who, int(t)), []).append(json.loads(js))
for t in (1, 2):
    g = statistics.median(r["ms_per_tile"] for r in rows[("go", t)])
    p = statistics.median(r["ms_per_tile"] for r in rows[("torch", t)])
    last = rows[("go", t)][-1]
    print(f"{t} thread(s): ipt {g:.0f} ms/tile, PyTorch {p:.0f} ms/tile, ratio {g/p:.2f}; "
          f"ipt gemm {last['gemm_gflops']:.0f} GFLOP/s, forward {last['tile_gflops']:.0f} GFLOP/s = "
          f"{last['forward_percent_of_peak']:.0f}% of peak {last['peak_gflops']:.0f}, "
          f"{last['forward_percent_of_sustained_peak']:.0f}% of sustained {last['sustained_peak_gflops']:.0f} ({last['kernel']})")
g1 = statistics.median(r["ms_per_tile"] for r in rows[("go", 1)])
g2 = statistics.median(r["ms_per_tile"] for r in rows[("go", 2)])
print(f"ipt scaling 1→2 threads: {g1/g2:.2f}x")
PY
