// Package asm holds the single-precision GEMM micro-kernels: a generic Go
// version (SgemmGeneric, the specification and test oracle), Sgemm2x4Go (the
// same arithmetic with its sums in registers: the plain-Go path's tile) and,
// on amd64, assembly versions generated with avo by the program in _gen:
//
//	Sgemm6x16AVX2     6×16 tile, 12 ymm accumulators (AVX2 + FMA3)
//	Sgemm12x32AVX512  12×32 tile, 24 zmm accumulators (AVX-512F)
//	PeakFMAAVX2, PeakFMAAVX512: FMA-throughput loops for peak measurements
//	Transpose8AVX     8-row transposes for packing
//	MaxAVX2, ExpSubSumAVX2: the row kernels of the attention softmax
//	AddAVX2, AddBiasReLUAVX2, LayerNormRowAVX2: the element-wise passes
//	                  between products (their Go versions are in internal/ops)
//
// A micro-kernel computes one MR×NR tile of C = alpha·A·B + beta·C from an
// MR×k block of A read with arbitrary strides (packed or in place) and a
// packed k×NR sliver of B; cache blocking, packing, edge tiles and threads
// are the job of the driver in internal/ops. The kernels check nothing: the
// caller guarantees the CPU features and the extents of a, b and c.
//
// Both assembly kernels have passed their tests on AVX-512 hardware (an
// Intel Xeon and an AMD Zen 4; scripts/device_avx512.sh runs them from test
// binaries on a machine without Go); internal/ops picks the widest the CPU has.
//
// The assembly is built unless the purego tag is set; HaveAsm reports it.
// sgemm_amd64.s and sgemm_amd64.go are generated: edit _gen/main.go and run
// `go generate ./internal/asm` (or _gen/check.sh to verify they are current).
package asm

//go:generate go run -C _gen . -out ../sgemm_amd64.s -stubs ../sgemm_amd64.go -pkg asm
//go:generate go run -C _gen ./neon -out ../sgemm_arm64.s
