#!/usr/bin/env bash
# The GPU checks, in two parts:
#
#   scripts/gpu_check.sh build   here (the Go toolchain, no GPU): builds the cuda
#                                binary and test binary, the CPU reference runs,
#                                and copies their inputs into gpu-bundle/
#   scripts/gpu_check.sh run     on the GPU host (NVIDIA driver, PyTorch, the
#                                nvidia-* wheels; no Go), from the repository root
#                                with gpu-bundle/ carried: every check below, a
#                                summary, every log's tail and an archive of the
#                                logs in $OUT (default gpu-bundle/out): three files
#
# run, in about 3 to 8 minutes (each step has its own timeout):
#   1. nvidia-smi, PyTorch, the CUDA libraries there, and ipt version (the
#      libraries found, the GPUs)
#   2. cuda.test with IPT_TEST_REQUIRE=cuda (GPU tests fail instead of skipping;
#      the emulator's tests, which CI runs, are skipped):
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
  # Stripped and gzipped: the device tool carries 64 MiB, the checkout included.
  local arch=${GPU_GOARCH:-amd64} ld=(-trimpath -ldflags=-s\ -w)
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags cuda "${ld[@]}" -o "$B/ipt" .
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go test -c -tags cuda "${ld[@]}" -o "$B/cuda.test" ./internal/cuda/
  gzip -9 "$B/ipt" "$B/cuda.test"
  # A few training images (tiny config: crops up to 4·24 = 96 pixels).
  local src=${TRAIN_IMAGES:-../shared/datasets/train/t91}
  ls "$src"/*.png | head -24 | xargs -I{} cp {} "$B/train/"
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
  local bin=$1 dev=$2 dir=$3 fx=testdata/ipt-tiny
  local w=(--weights "$fx/model.pt" --num-heads 4 --tiling official --device "$dev" --force -q)
  "$bin" sr -x 3 --head 1 "${w[@]}" -o "$dir/sr3.$dev.png" "$fx/png/sr3.in.png" &&
    "$bin" denoise --sigma 50 --head 5 --ensemble "${w[@]}" -o "$dir/dn50_ens.$dev.png" "$fx/png/dn50_ens.in.png"
}

run() {
  # The device tool returns at most 8 files from $OUT: every log goes to
  # $LOGS, and after each step its tail is appended to $OUT/all.log; the
  # summary is $OUT/summary.txt and the logs' archive $OUT/logs.tgz.
  OUT=${OUT:-$B/out}
  LOGS=${LOGS:-$(mktemp -d)}
  mkdir -p "$OUT" "$LOGS"
  local S=$OUT/summary.txt fails=0
  : >"$S"
  say() { echo "$*" | tee -a "$S"; }
  # step NAME SECONDS CMD...: runs CMD with a timeout, its output in $LOGS/NAME.log.
  step() {
    local name=$1 secs=$2
    shift 2
    local t0=$SECONDS
    timeout -k 5 "$secs" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then say "ok   $name ($((SECONDS - t0))s)"; else say "FAIL $name: exit $rc ($((SECONDS - t0))s)"; fails=$((fails + 1)); fi
    { echo "=== $name: exit $rc, $((SECONDS - t0))s"; tail -c 40000 "$LOGS/$name.log"; } >>"$OUT/all.log"
    return $rc
  }
  local ipt=$B/ipt
  for f in "$B"/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
  chmod +x "$ipt" "$B/cuda.test"
  step env 30 bash -c 'nvidia-smi; command -v python3; python3 -c "import torch; print(torch.__version__, torch.version.cuda)";
    ls -d /usr/local/cuda*/lib64 2>&1; ls /usr/local/cuda/lib64 2>&1 | grep -E "cublas|nvrtc|nccl";
    python3 -c "import nvidia, os; [print(p) for d in nvidia.__path__ for p in sorted(os.listdir(d))]" 2>&1 | head -30'
  step version 40 "$ipt" version
  # From the package's folder, as go test runs it: the tests read ../../testdata.
  step cuda-test 170 bash -c "cd internal/cuda && IPT_TEST_REQUIRE=cuda ../../$B/cuda.test -test.v -test.count=1 -test.timeout 160s -test.skip 'Emulated|ConvBands|StickyError'"
  grep -E '^(--- |ok|FAIL|PASS|panic)' "$LOGS/cuda-test.log" | grep -v '^--- PASS' | head -40 >>"$S"

  # Parity: within a grey level of the authors' outputs, as on the CPU.
  local pd=$LOGS/parity
  mkdir -p "$pd"
  cp "$B"/parity/* testdata/ipt-tiny/png/*.want.png "$pd/"
  if step parity 60 "$0" parity "$ipt" cuda "$pd"; then
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
  if step train-short 60 "$ipt" train --config tiny --data "$B/train" --steps 20 --batch 4 --seed 7 \
    --progress json --device cuda -o "$LOGS/gpu-train.safetensors"; then
    python3 - "$B/cpu-train.jsonl" "$LOGS/train-short.log" <<'PY' | tee -a "$S" || fails=$((fails + 1))
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

  # Throughput against PyTorch on this GPU, fp32 first (the comparison that
  # matters most), then training, then bf16.
  local cfg=64,48,3,12,12
  bench() {
    step "bench-ipt-$1" 75 "$ipt" bench --device cuda --precision "$1" --tiles 64 --runs 5 --json
    say "  ipt:   $(tail -1 "$LOGS/bench-ipt-$1.log")"
    step "bench-torch-$1" 75 env PYTHONUNBUFFERED=1 python3 scripts/bench_torch.py --device cuda --precision "$1" -n 64 -r 5 --threads 1
    say "  torch: $(tail -1 "$LOGS/bench-torch-$1.log")"
  }
  bench fp32
  # ipt at the released config: 8 steps of batch 8 at ×2; samples/s of the last.
  if step train-ipt 100 "$ipt" train --config released --tasks sr2 --data "$B/train" --steps 8 --batch 8 \
    --progress json --device cuda -o "$LOGS/released.safetensors"; then
    say "  ipt:   $(grep '^{' "$LOGS/train-ipt.log" | tail -1)"
  fi
  step train-torch 75 env PYTHONUNBUFFERED=1 python3 scripts/bench_train_torch.py --device cuda --config "$cfg" --scale 2 --batch 8 -r 3 --threads 1
  say "  torch: $(tail -1 "$LOGS/train-torch.log")"
  bench bf16
  say "$fails failed"
  rm -f "$LOGS"/*.safetensors
  tar czf "$OUT/logs.tgz" -C "$LOGS" . 2>/dev/null
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
