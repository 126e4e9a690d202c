# Sourced by the bench_*_vs_torch.sh scripts: `peer T CMD…` runs a PyTorch
# or OpenBLAS peer at T threads at its best on these machines.
#
# - OpenBLAS: this workplace sets OPENBLAS_CORETYPE=Haswell and
#   OPENBLAS_L2_SIZE, which pin it (and Debian's torch, built on it) to the
#   AVX2 kernels, half speed on AVX-512. Unset for the peer alone.
# - glibc malloc: by default blocks above a moving threshold are mmapped and
#   unmapped when freed, and the heap's top is trimmed, so PyTorch, which
#   frees its activations and allocates them again every forward, gets fresh
#   pages from the kernel each time and first-touches them in 4 KiB faults.
#   Keeping freed memory (no mmap, no trim) and asking for transparent huge
#   pages on the heap, as ipt's own allocator does, took the released-size
#   forward from 1370 to 450-515 ms a tile and the released training step
#   from 0.42-0.45 to 0.60-0.74 samples/s at 1 thread
#   (results/2026-11-30g-peer-allocator.txt).
#
# Peak-memory figures (bench_torch.py --restore) run without this: kept
# memory is the point of them.
peer() {
  local threads=$1
  shift
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" \
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$@"
}
