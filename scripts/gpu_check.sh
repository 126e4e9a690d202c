#!/usr/bin/env bash
# The GPU checks, in two parts:
#
#   scripts/gpu_check.sh build   here (the Go toolchain, no GPU): builds the cuda
#                                binary and test binary, the CPU reference runs,
#                                and copies their inputs into gpu-bundle/
#   scripts/gpu_check.sh run     on the GPU host (NVIDIA driver, PyTorch, the
#                                nvidia-* wheels; no Go), from the repository root
#                                with gpu-bundle/ carried: every check below,
#                                logs and a summary in $OUT (default gpu-bundle/out)
#
# run, in under 10 minutes (each step has its own timeout):
#   1. nvidia-smi and ipt version (the libraries found, the GPUs)
#   2. cuda.test with IPT_TEST_REQUIRE=cuda (GPU tests fail instead of skipping):
#      libraries, driver bindings, NVRTC, cuBLAS Sgemm in FP32/TF32/BF16, NCCL on one
#      rank, the backend's conformance suite (opstest, 1e-5), the authors' fixtures to 1e-3
#      (TestGPUParity: every task's forward and the official tiler), a training step against
#      the CPU, TF32/BF16 through the backend, sticky errors
#   3. parity: the authors' fixtures (testdata/ipt-tiny/png) restored with
#      --device cuda, compared with their expected PNGs (and with the CPU's outputs)
#   4. a short ipt train on --device cuda against the same run on the CPU (made by
#      build): the loss curves step by step
#   5. throughput against PyTorch on the same GPU: ipt bench --device cuda (fp32 and
#      bf16) vs scripts/bench_torch.py --device cuda (ms per tile at the released
#      size), and ipt train --device cuda at the released config vs
#      scripts/bench_train_torch.py --device cuda (samples/s)
set -uo pipefail
cd "$(dirname "$0")/.."
B=gpu-bundle

build() {
  set -e
  rm -rf "$B"
  mkdir -p "$B/train" "$B/parity"
  # The host is linux/amd64 unless GPU_GOARCH says otherwise (arm64 for Grace).
  local arch=${GPU_GOARCH:-amd64}
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags cuda -o "$B/ipt" .
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go test -c -tags cuda -o "$B/cuda.test" ./internal/cuda/
  # A few training images (tiny config: crops up to 4·24 = 96 pixels).
  local src=${TRAIN_IMAGES:-../shared/datasets/train/t91}
  ls "$src"/*.png | head -24 | xargs -I{} cp {} "$B/train/"
  cp testdata/ipt-tiny/model.pt testdata/ipt-tiny/png/*.png "$B/parity/"
  # The CPU references, with this machine's binary.
  local cpu=$B/ipt-cpu
  go build -o "$cpu" .
  "$cpu" train --config tiny --data "$B/train" --steps 20 --batch 4 --seed 7 --progress json \
    -o "$(mktemp -d)/cpu-train.safetensors" 2>"$B/cpu-train.jsonl"
  parity "$cpu" cpu "$B/parity"
  rm -f "$cpu"
  echo "gpu-bundle: $(du -sh "$B" | cut -f1); carry it and run scripts/gpu_check.sh run on the GPU host"
}

# parity BIN DEVICE DIR restores the two fixture cases with BIN on DEVICE
# into DIR/NAME.DEVICE.png.
parity() {
  local bin=$1 dev=$2 dir=$3
  local w=(--weights "$dir/model.pt" --num-heads 4 --tiling official --device "$dev" --force -q)
  "$bin" sr -x 3 --head 1 "${w[@]}" -o "$dir/sr3.$dev.png" "$dir/sr3.in.png" &&
    "$bin" denoise --sigma 50 --head 5 --ensemble "${w[@]}" -o "$dir/dn50_ens.$dev.png" "$dir/dn50_ens.in.png"
}

run() {
  OUT=${OUT:-$B/out}
  mkdir -p "$OUT"
  local S=$OUT/summary.txt fails=0
  : >"$S"
  say() { echo "$*" | tee -a "$S"; }
  # step NAME SECONDS CMD...: runs CMD with a timeout, its output in $OUT/NAME.log.
  step() {
    local name=$1 secs=$2
    shift 2
    local t0=$SECONDS
    timeout "$secs" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then say "ok   $name ($((SECONDS - t0))s)"; else say "FAIL $name: exit $rc ($((SECONDS - t0))s; $OUT/$name.log)"; fails=$((fails + 1)); fi
    return $rc
  }
  local ipt=$B/ipt
  step nvidia-smi 30 nvidia-smi
  step version 60 "$ipt" version
  # From the package's folder, as go test runs it: the tests read ../../testdata.
  step cuda-test 240 bash -c "cd internal/cuda && IPT_TEST_REQUIRE=cuda ../../$B/cuda.test -test.v -test.count=1"
  grep -E '^(--- |ok|FAIL|PASS)' "$OUT/cuda-test.log" | grep -v '^--- PASS' | head -40 >>"$S"

  # Parity: within a grey level of the authors' outputs, as on the CPU.
  local pd=$OUT/parity
  mkdir -p "$pd"
  cp "$B"/parity/* "$pd/"
  if step parity 120 "$0" parity "$ipt" cuda "$pd"; then
    for c in sr3 dn50_ens; do
      for ref in want cpu; do
        local m
        m=$("$ipt" compare --json "$pd/$c.cuda.png" "$pd/$c.$ref.png")
        say "  $c vs $ref: $m"
        # Within a grey level, rarely: PSNR on Y above 40 dB (null: identical).
        python3 -c 'import json,sys; p=json.loads(sys.argv[1])["psnr_y"]; sys.exit(0 if p is None or p > 40 else 1)' "$m" ||
          { say "FAIL parity $c vs $ref"; fails=$((fails + 1)); }
      done
    done
  fi

  # The short training run, the CPU's twin: losses step by step.
  if step train-short 180 "$ipt" train --config tiny --data "$B/train" --steps 20 --batch 4 --seed 7 \
    --progress json --device cuda -o "$OUT/gpu-train.safetensors"; then
    python3 - "$B/cpu-train.jsonl" "$OUT/train-short.log" <<'PY' | tee -a "$S" || fails=$((fails + 1))
import json, sys
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if l.startswith("{")]
cpu, gpu = losses(sys.argv[1]), losses(sys.argv[2])
worst = 0.0
for i, (c, g) in enumerate(zip(cpu, gpu)):
    rel = abs(g - c) / max(abs(c), 1e-12)
    worst = max(worst, rel) if i < 10 else worst
    print(f"  step {i+1:2}: cpu {c:.6f} gpu {g:.6f} rel {rel:.2e}")
# fp32 on both: the first steps agree to float rounding; later ones drift
# as any two summation orders do.
ok = len(cpu) == len(gpu) == 20 and worst < 1e-3
print(f"  loss curves: {len(cpu)} and {len(gpu)} steps, first 10 within {worst:.2e} relative: {'ok' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
  fi

  # Throughput against PyTorch on this GPU.
  local cfg=64,48,3,12,12
  for p in fp32 bf16; do
    step "bench-ipt-$p" 120 "$ipt" bench --device cuda --precision "$p" --tiles 64 --runs 5 --json
    step "bench-torch-$p" 120 python3 scripts/bench_torch.py --device cuda --precision "$p" -n 64 -r 5
    say "  ipt:   $(tail -1 "$OUT/bench-ipt-$p.log")"
    say "  torch: $(tail -1 "$OUT/bench-torch-$p.log")"
  done
  step train-torch 150 python3 scripts/bench_train_torch.py --device cuda --config "$cfg" --scale 2 --batch 8 -r 3
  say "  torch: $(tail -1 "$OUT/train-torch.log")"
  # ipt at the released config: 8 steps of batch 8 at ×2; samples/s of the last.
  if step train-ipt 150 "$ipt" train --config released --tasks sr2 --data "$B/train" --steps 8 --batch 8 \
    --progress json --device cuda -o "$OUT/released.safetensors"; then
    say "  ipt:   $(grep '^{' "$OUT/train-ipt.log" | tail -1)"
  fi
  say "$fails failed"
  [ "$fails" -eq 0 ]
}

case "${1:-}" in
build) build ;;
run) run ;;
parity) # (for run's timeout) parity BIN DEVICE DIR
  shift
  parity "$@"
  ;;
*)
  echo "usage: $0 build|run" >&2
  exit 2
  ;;
esac
