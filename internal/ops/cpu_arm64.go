//go:build !purego

package ops

import (
	"github.com/ipt-go/ipt/internal/asm"
	"github.com/klauspost/cpuid/v2"
)

// Blocking: a KC×12 B sliver (12 KiB at KC 256) stays in L1 (64 KiB on
// Neoverse, 128 KiB on Apple cores) with the eight rows of A it meets; the
// MC×KC block of A (128 KiB) in L2; NC (a multiple of 12) bounds the B
// panel. Not tuned on hardware: no arm64 machine was at hand.
var neonKernel = &gemmKernel{
	name: "neon", mr: 8, nr: 12, mc: 128, kc: 256, nc: 4080,
	tile: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		asm.Sgemm8x12NEON(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
	},
	rowKernels:   neonRowKernels,
	peak:         asm.PeakFMANEON,
	flopsPerTrip: 24 * 4 * 2,
}

// The NEON row kernels, 4 lanes; the scaling and training's element-wise
// kernels stay in Go: no NEON versions yet.
var neonRowKernels = func() rowKernels {
	r := goRowKernels
	r.softmax = vecSoftmax(4, asm.MaxNEON, asm.ExpSubSumNEON)
	r.add = vecAdd(4, asm.AddNEON)
	r.addBiasReLU = vecAddBiasReLU(4, asm.AddBiasReLUNEON)
	r.layerNormRow = vecLayerNormRow(4, asm.LayerNormRowNEON)
	return r
}()

// platformKernels lists the NEON kernel, chosen automatically, and the
// amd64 ones as unusable. ASIMD is mandatory on arm64 (Go requires ARMv8-A);
// the NEON path is refused only if cpuid saw the CPU's features and ASIMD
// was not among them.
func platformKernels() []kernelChoice {
	neon := ""
	if cpuid.CPU.Supports(cpuid.FP) && !cpuid.CPU.Supports(cpuid.ASIMD) {
		neon = "CPU lacks ASIMD"
	}
	return []kernelChoice{
		{k: &gemmKernel{name: "avx2"}, missing: "an amd64 path; this is arm64"},
		{k: &gemmKernel{name: "avx512"}, missing: "an amd64 path; this is arm64"},
		{k: neonKernel, missing: neon, auto: true},
	}
}
