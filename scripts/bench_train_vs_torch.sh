#!/usr/bin/env bash
# Training speed against PyTorch: samples/s of one whole optimiser step
# (forward, L1 + 0.1·contrastive, backward, clipping, Adam; batch 8, ×2) for
# the tiny, small and released configs at 1 and 2 threads, ipt
# (BenchmarkTrainStep) and Debian's PyTorch (bench_train_torch.py)
# alternately, then medians and ratios. The peer runs at its best
# (scripts/peer_env.sh: OpenBLAS's best kernel, malloc keeping its memory).
# Usage: scripts/bench_train_vs_torch.sh [rounds] [configs]   e.g. 3 "tiny small"
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peer_env.sh
rounds=${1:-3}
configs=${2:-tiny small released}
bin=${TMPDIR:-/tmp}/ipt-train.test
go test -c -o "$bin" ./internal/train
declare -A torchcfg=([tiny]="16,24,3,4,1" [small]="32,48,3,8,2" [released]="64,48,3,12,12")
# Timed steps per run: a tiny step takes ~40 ms, and two of them are noise.
declare -A steps=([tiny]=40 [small]=6 [released]=2)
out=$(mktemp)
for r in $(seq "$rounds"); do
  for c in $configs; do
    for t in 1 2; do
      rate=$("$bin" -test.run XXX -test.bench "TrainStep/$c/threads=$t\$" -test.benchtime "${steps[$c]}x" |
        awk '/samples\/s/ {for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print $i}')
      echo "go $c $t $rate" | tee -a "$out"
      rate=$(peer "$t" /usr/bin/python3 scripts/bench_train_torch.py --config "${torchcfg[$c]}" --scale 2 --batch 8 --threads $t --warmup 2 -r "${steps[$c]}" |
        /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])["samples_per_s"])')
      echo "torch $c $t $rate" | tee -a "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, c, t, v = line.split()
    rows.setdefault((c, int(t)), {}).setdefault(who, []).append(float(v))
print("config threads   ipt samples/s   PyTorch samples/s   ratio")
for (c, t), d in rows.items():
    g, p = statistics.median(d["go"]), statistics.median(d["torch"])
    print(f"{c:8} {t:7} {g:15.3f} {p:19.3f} {g / p:7.2f}")
PY
