#!/usr/bin/env bash
# Checks the Go engine on released-size IPT checkpoints (115.6 M parameters)
# against the PyTorch reference, and measures load time and peak memory.
# Needs Debian's python3-torch. Files go to ${TMPDIR:-/tmp}; nothing large
# enters the repository.
#   scripts/check_released.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=${TMPDIR:-/tmp}/ipt-released
mkdir -p "$tmp"
py=/usr/bin/python3

[ -f "$tmp/x4.pt" ] || $py scripts/make_checkpoint.py --scales 4 -o "$tmp/x4.pt"
[ -f "$tmp/x1_legacy.pt" ] || $py scripts/make_checkpoint.py --scales 1 --format legacy --position-ids --cuda-location -o "$tmp/x1_legacy.pt"
[ -f "$tmp/x4.cases.safetensors" ] || $py scripts/make_cases.py "$tmp/x4.pt" --heads 12 --tasks 0 --patch 2 --chop 50x61 -o "$tmp/x4.cases.safetensors"
[ -f "$tmp/x1.cases.safetensors" ] || $py scripts/make_cases.py "$tmp/x1_legacy.pt" --heads 12 --tasks 0 --patch 2 --chop 61x50 -o "$tmp/x1.cases.safetensors"

for pair in "x4.pt x4.cases" "x1_legacy.pt x1.cases"; do
  set -- $pair
  IPT_RELEASED_CKPT="$tmp/$1" IPT_RELEASED_CASES="$tmp/$2.safetensors" \
    go test -count=1 -timeout 60m -run 'TestParityReleasedSize' -v ./internal/ipt | grep -E 'loaded|diff|^(ok|FAIL|---)'
done

go build -o "$tmp/ipt" .
echo "== load time and peak memory (convert reads and checks the whole checkpoint)"
for i in 1 2 3; do
  /usr/bin/time -f "load+check+write: %e s wall, peak RSS %M KiB" "$tmp/ipt" convert "$tmp/x4.pt" "$tmp/x4.safetensors" --force 2>&1 | tail -1
done
