//go:build !purego

package ops

import (
	"github.com/ipt-go/ipt/internal/asm"
	"github.com/klauspost/cpuid/v2"
)

// Blocking (measured on Zen 4; BLIS's Zen 2/3 numbers are MC 144, KC 256,
// NC 4080): a B sliver of KC×16 floats (k is cut into equal blocks of at
// most KC, so ≤ 20 KiB) stays in L1 with the six rows of A it meets; the
// MC×KC block of A stays in L2 across the slivers; NC bounds the B panel.
var avx2Kernel = &gemmKernel{
	name: "avx2", mr: 6, nr: 16, mc: 144, kc: 320, nc: 4080,
	tile: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		asm.Sgemm6x16AVX2(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
	},
	transpose8:   transpose8AVX,
	softmax:      softmaxAVX2,
	peak:         asm.PeakFMAAVX2,
	flopsPerTrip: 12 * 8 * 2,
}

// KC 256 keeps the KC×32 B sliver at ≤ 32 KiB.
var avx512Kernel = &gemmKernel{
	name: "avx512", mr: 12, nr: 32, mc: 144, kc: 256, nc: 4096,
	tile: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		asm.Sgemm12x32AVX512(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
	},
	transpose8:   transpose8AVX,
	softmax:      softmaxAVX2, // replaced by the Go one where AVX2 is missing
	peak:         asm.PeakFMAAVX512,
	flopsPerTrip: 24 * 16 * 2,
}

// transpose8AVX is asm.Transpose8AVX on slices: dst[c*ldd+i] = src[i*lds+c]
// for i < 8, c < n (n a multiple of 8).
func transpose8AVX(dst []float32, ldd int, src []float32, lds, n int) {
	if n <= 0 {
		return
	}
	_ = src[7*lds+n-1]
	_ = dst[(n-1)*ldd+7]
	asm.Transpose8AVX(&dst[0], ldd, &src[0], lds, n)
}

// softmaxAVX2 is softmaxUnnormalised with the multiple-of-8 part of the row
// in assembly: lanes of 8 for the maximum and for exp and its sum.
func softmaxAVX2(x []float32) float32 {
	n8 := len(x) &^ 7
	if n8 == 0 {
		return softmaxUnnormalised(x)
	}
	m := asm.MaxAVX2(x[:n8])
	for _, v := range x[n8:] {
		m = max(m, v)
	}
	s := asm.ExpSubSumAVX2(x[:n8], m)
	for i := n8; i < len(x); i++ {
		e := expNeg(x[i] - m)
		x[i] = e
		s += e
	}
	return s
}

// platformKernels lists the assembly kernels with what this CPU lacks for
// each; both may be chosen automatically, AVX-512 first.
func platformKernels() []kernelChoice {
	avx2 := ""
	if !cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) {
		avx2 = "CPU lacks AVX2/FMA3"
	}
	avx512 := ""
	if !cpuid.CPU.Supports(cpuid.AVX512F) {
		avx512 = "CPU lacks AVX-512F"
	}
	if avx2 != "" { // AVX-512 without AVX2 does not occur, but stay safe
		avx512Kernel.softmax = softmaxUnnormalised
	}
	return []kernelChoice{
		{k: avx2Kernel, missing: avx2, auto: true},
		{k: avx512Kernel, missing: avx512, auto: true},
	}
}
