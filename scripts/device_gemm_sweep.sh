#!/bin/sh
# Run on a device machine from the repo root after building devbin/ops.test
# (see scripts/device_avx512.sh); carry devbin.
# AVX-512 GEMM blocking sweep (1 thread) on IPT's linear shapes.
cd internal/ops
for mc in 48 96 144 192 288 384; do
  for kc in 128 192 256 384 512; do
    echo "== mc=$mc kc=$kc"
    IPT_GEMM_TIMINGS=1 IPT_GEMM_KERNEL=avx512 IPT_GEMM_SHAPES=linear IPT_GEMM_REPS=5 IPT_GEMM_THREADS=1 IPT_GEMM_BLOCKS=$mc,$kc,4096 ../../devbin/ops.test -test.run SgemmTimings -test.v 2>&1 | grep -o 'linear-[^ ]* .*median *[0-9.]*'
  done
done
echo "== avx2 default"
IPT_GEMM_TIMINGS=1 IPT_GEMM_KERNEL=avx2 IPT_GEMM_SHAPES=linear IPT_GEMM_REPS=5 IPT_GEMM_THREADS=1 ../../devbin/ops.test -test.run SgemmTimings -test.v 2>&1 | grep -o 'linear-[^ ]* .*median *[0-9.]*'
