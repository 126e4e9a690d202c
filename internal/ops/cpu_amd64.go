//go:build !purego

package ops

import (
	"fmt"

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
	half: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		asm.Sgemm6x8AVX2(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
	},
	transpose8:   transpose8AVX,
	copySlivers:  copySliversAVX,
	rowKernels:   avx2RowKernels,
	peak:         asm.PeakFMAAVX2,
	flopsPerTrip: 12 * 8 * 2,
}

// The AVX-512 kernel; its blocking and packing are set for this CPU by
// tuneAVX512 in platformKernels (the values here are the fallback).
var avx512Kernel = &gemmKernel{
	name: "avx512", mr: 12, nr: 32, mc: 144, kc: 256, nc: 4096,
	tile: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		asm.Sgemm12x32AVX512(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
	},
	half: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		asm.Sgemm12x16AVX512(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
	},
	transpose8:   transpose8AVX,
	copySlivers:  copySliversAVX,
	rowKernels:   avx512RowKernels,
	peak:         asm.PeakFMAAVX512,
	flopsPerTrip: 24 * 16 * 2,
}

// The row kernels: AVX2 on 8 lanes, and the AVX-512 softmax on 16.
var (
	softmaxAVX2         = vecSoftmax(8, asm.MaxAVX2, asm.ExpSubSumAVX2)
	addAVX2             = vecAdd(8, asm.AddAVX2)
	addBiasReLUAVX2     = vecAddBiasReLU(8, asm.AddBiasReLUAVX2)
	layerNormRowAVX2    = vecLayerNormRow(8, asm.LayerNormRowAVX2)
	scaleAVX2           = vecRowScalar(8, asm.ScaleAVX2, scaleGo)
	softmaxBackwardAVX2 = vecRowPairScalar(8, asm.SoftmaxBackwardAVX2, softmaxBackwardRowDot)
	softmaxAVX512       = vecSoftmax(16, asm.MaxAVX512, asm.ExpSubSumAVX512)
)

var avx2RowKernels = rowKernels{
	softmax:         softmaxAVX2,
	add:             addAVX2,
	addBiasReLU:     addBiasReLUAVX2,
	layerNormRow:    layerNormRowAVX2,
	scale:           scaleAVX2,
	softmaxBackward: softmaxBackwardAVX2,
	lnNormalise:     layerNormNormaliseAVX2,
	lnAccumulate:    layerNormAccumulateAVX2,
	lnDx:            layerNormDxAVX2,
	adam:            adamAVX2,
	addTo:           addToAVX2,
	reluBackward:    reluBackwardAVX2,
	reluBackwardTo:  reluBackwardToAVX2,
}

// avx512RowKernels are the AVX2 ones but for the softmax: its exponentials
// are bound by arithmetic and gain from 16 lanes. Most others are bound by
// memory; none has an AVX-512 version yet.
var avx512RowKernels = func() rowKernels {
	r := avx2RowKernels
	r.softmax = softmaxAVX512
	return r
}()

// The layer-norm backward's element-wise passes with the multiple-of-4 part
// in assembly and the rest in Go.
func layerNormNormaliseAVX2(h []float64, x []float32, mean, inv float64) {
	x = x[:len(h)]
	n := len(h) &^ 3
	if n > 0 {
		asm.LayerNormNormaliseAVX2(h[:n], x[:n], mean, inv)
	}
	layerNormNormaliseGo(h[n:], x[n:], mean, inv)
}

func layerNormAccumulateAVX2(sb, sg, h []float64, dy []float32) {
	sg, h, dy = sg[:len(sb)], h[:len(sb)], dy[:len(sb)]
	n := len(sb) &^ 3
	if n > 0 {
		asm.LayerNormAccumulateAVX2(sb[:n], sg[:n], h[:n], dy[:n])
	}
	layerNormAccumulateGo(sb[n:], sg[n:], h[n:], dy[n:])
}

func layerNormDxAVX2(dx, dy, gamma []float32, h []float64, m1, m2, inv float64) {
	dy, gamma, h = dy[:len(dx)], gamma[:len(dx)], h[:len(dx)]
	n := len(dx) &^ 3
	if n > 0 {
		asm.LayerNormDxAVX2(dx[:n], dy[:n], gamma[:n], h[:n], m1, m2, inv)
	}
	layerNormDxGo(dx[n:], dy[n:], gamma[n:], h[n:], m1, m2, inv)
}

// copySliversAVX is copySliversGo with asm.CopySlivers{6,12,16,32}AVX for
// the tile widths of both kernels (other widths: copySliversGo).
func copySliversAVX(dst, src []float32, ld, rows, n, w int) {
	if rows <= 0 || n <= 0 {
		return
	}
	_ = dst[n*rows*w-1]
	_ = src[(rows-1)*ld+n*w-1]
	switch w {
	case 6:
		asm.CopySlivers6AVX(&dst[0], &src[0], ld, rows, n)
	case 12:
		asm.CopySlivers12AVX(&dst[0], &src[0], ld, rows, n)
	case 16:
		asm.CopySlivers16AVX(&dst[0], &src[0], ld, rows, n)
	case 32:
		asm.CopySlivers32AVX(&dst[0], &src[0], ld, rows, n)
	default:
		copySliversGo(dst, src, ld, rows, n, w)
	}
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

// adamAVX2 is AdamUpdate with the multiple-of-8 part in assembly.
func adamAVX2(p, g, m, v []float32, c AdamCoefs) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	n8 := len(p) &^ 7
	if n8 > 0 {
		cs := [7]float32{c.B1, c.C1, c.B2, c.C2, c.BC2, c.Eps, c.Step}
		asm.AdamAVX2(p[:n8], g[:n8], m[:n8], v[:n8], &cs)
	}
	adamUpdateGo(p[n8:], g[n8:], m[n8:], v[n8:], c)
}

// The element-wise training kernels, 8 lanes. ReLUBackward masks in place
// when dX is dOut (ReLUMaskAVX2), else adds the masked gradient.
var (
	addToAVX2          = vecMap3(8, asm.AddToAVX2, addToGo)
	reluBackwardToAVX2 = vecMap3(8, asm.ReLUBackwardToAVX2, reluBackwardToGo)
	reluBackwardAVX2   = vecMap3(8, func(dX, dOut, y []float32) {
		if &dX[0] == &dOut[0] {
			asm.ReLUMaskAVX2(dX, y)
		} else {
			asm.ReLUBackwardAddAVX2(dX, dOut, y)
		}
	}, reluBackwardGo)
)

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
	tuneAVX512(avx512Kernel, cpuid.CPU.VendorID, cpuid.CPU.Family, cpuid.CPU.Cache.L1D, cpuid.CPU.Cache.L2)
	if avx2 != "" { // AVX-512 without AVX2 does not occur, but stay safe
		k := avx512Kernel
		k.rowKernels = goRowKernels
	}
	return []kernelChoice{
		{k: avx2Kernel, missing: avx2, auto: true},
		{k: avx512Kernel, missing: avx512, auto: true},
		{k: &gemmKernel{name: "neon"}, missing: "an arm64 path; this is amd64"},
	}
}

// avx512Tuning is the AVX-512 kernel's blocking on one microarchitecture
// family, measured with TestSgemmTimings (IPT_GEMM_BLOCKS) and
// TestSgemmVsOpenBLAS; the logs are in results/.
type avx512Tuning struct {
	name       string
	mc, kc, nc int
	// l1d and l2 are the family's per-core data caches; when cpuid reports
	// smaller ones (a VM, a cut-down part), kc and mc shrink in proportion.
	l1d, l2 int
}

var (
	// Zen 5 (family 1Ah: Turin, Granite Ridge; 48 KiB L1D, 1 MiB L2, two
	// 512-bit FMA pipes): KC 576 beat 256–512 by 2–3% on the FFN and 3×3
	// conv products (k = 576 in one block: one pass over C instead of
	// two or three) and tied on the others; the 72 KiB B sliver then
	// lives in L2, which feeds its 128 bytes per 24 FMAs easily. MC
	// 96–240 and packing A always were flat within 1%.
	// results/2026-11-29-avx512-zen5.log.
	zen5Tuning = avx512Tuning{name: "Zen 5", mc: 144, kc: 576, nc: 4096, l1d: 48 << 10, l2: 1 << 20}
	// Zen 4 (family 19h with AVX-512: Genoa, Raphael; 32 KiB L1D, 1 MiB
	// L2, 512-bit ops in two 256-bit halves): the values of before the
	// per-family table, not re-measured.
	zen4Tuning = avx512Tuning{name: "Zen 4", mc: 144, kc: 256, nc: 4096, l1d: 32 << 10, l2: 1 << 20}
	// Intel (Skylake-SP to Sapphire Rapids; 32–48 KiB L1D, 1–2 MiB L2): the
	// sweep of results/2026-11-26-avx512-blocking-sweep-intel-xeon.log was
	// flat within noise from MC 48–384 and KC 128–512, so the defaults stay
	// (with the embedded-broadcast kernel of then; not re-measured).
	intelTuning = avx512Tuning{name: "Intel", mc: 144, kc: 256, nc: 4096, l1d: 32 << 10, l2: 1 << 20}
)

// tuneAVX512 sets k's blocking for a CPU of the given vendor and family with
// the given per-core L1D and L2 sizes in bytes (≤ 0 when unknown): the
// family's measured values, with kc cut in proportion when the L1D is
// smaller than the family's and mc when the L2 is. Unknown families keep
// k's values.
func tuneAVX512(k *gemmKernel, vendor cpuid.Vendor, family, l1d, l2 int) {
	var t avx512Tuning
	switch {
	case vendor == cpuid.AMD && family == 0x1a:
		t = zen5Tuning
	case vendor == cpuid.AMD && family == 0x19:
		t = zen4Tuning
	case vendor == cpuid.Intel:
		t = intelTuning
	default:
		return
	}
	k.mc, k.kc, k.nc, k.tuning = t.mc, t.kc, t.nc, t.name
	if l1d > 0 && l1d < t.l1d {
		k.kc = max(64, t.kc*l1d/t.l1d&^15)
		k.tuning += fmt.Sprintf(", KC cut for a %d KiB L1D", l1d>>10)
	}
	if l2 > 0 && l2 < t.l2 {
		k.mc = max(2*k.mr, t.mc*l2/t.l2/k.mr*k.mr)
		k.tuning += fmt.Sprintf(", MC cut for a %d KiB L2", l2>>10)
	}
}
