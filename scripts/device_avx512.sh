#!/bin/sh
# Runs the kernel tests and a short benchmark on a machine with AVX-512, from
# test binaries built here (the device machines have no Go toolchain):
#
#   CGO_ENABLED=0 go test -c -o devbin/asm.test ./internal/asm   (and ops, ipt)
#   CGO_ENABLED=0 go build -o devbin/ipt .
#   scripts/device_avx512.sh          # on the machine, from the repo root
#
# Everything goes to stdout; the exit status is the first failing step's.
set -u
bin=$(pwd)/devbin
status=0
step() { echo "== $*"; "$@" || { echo "FAILED: $*"; status=1; }; }

echo "== cpu"
grep -m1 'model name' /proc/cpuinfo
echo "cores: $(nproc)"
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512[a-z_0-9]*)$' | tr '\n' ' '
echo

cd internal/asm
step "$bin/asm.test" -test.count=1 -test.v -test.run 'Kernels|Transpose|Peak'
step "$bin/asm.test" -test.count=1 -test.run XXX -test.bench 'Kernel|PeakFMA' -test.benchtime=200x
cd ../ops
for p in avx512 avx2 generic; do
	echo "== IPT_CPU=$p ops tests"
	IPT_CPU=$p "$bin/ops.test" -test.count=1 -test.v 2>&1 | grep -E 'covered|^(--- FAIL|FAIL|ok|PASS)' || status=1
done
for p in avx512 avx2; do
	IPT_CPU=$p step "$bin/ops.test" -test.count=1 -test.run XXX -test.bench 'Sgemm/' -test.benchtime=3x -test.cpu 1
done
cd ../ipt
for p in avx512 avx2; do
	echo "== IPT_CPU=$p ipt tests"
	IPT_CPU=$p "$bin/ipt.test" -test.count=1 2>&1 | tail -3
done
cd ../..
for round in 1 2; do
	for p in avx512 avx2; do
		for t in 1 16; do
			echo "== round $round IPT_CPU=$p threads $t"
			IPT_CPU=$p "$bin/ipt" bench --json --threads $t --tiles $t --runs 3 || status=1
		done
	done
done
exit $status
