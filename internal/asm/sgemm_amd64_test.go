//go:build !purego

package asm

import (
	"testing"
	"time"

	"github.com/klauspost/cpuid/v2"
)

func init() {
	avx2 := cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3)
	avx512 := cpuid.CPU.Supports(cpuid.AVX512F)
	kernels = append(kernels,
		testKernel{name: "Sgemm6x16AVX2", mr: 6, nr: 16, fn: callAVX2, missing: missing(avx2, "CPU lacks AVX2/FMA3")},
		testKernel{name: "Sgemm12x32AVX512", mr: 12, nr: 32, fn: callAVX512, missing: missing(avx512, "CPU lacks AVX-512F")},
		testKernel{name: "Sgemm6x8AVX2", mr: 6, nr: 8, fn: callAVX2Half, missing: missing(avx2, "CPU lacks AVX2/FMA3")},
		testKernel{name: "Sgemm12x16AVX512", mr: 12, nr: 16, fn: callAVX512Half, missing: missing(avx512, "CPU lacks AVX-512F")},
	)
}

func missing(ok bool, why string) string {
	if ok {
		return ""
	}
	return why
}

func callAVX2(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if k == 0 {
		b = b[:1] // the kernel reads nothing from a or b when k == 0
	}
	Sgemm6x16AVX2(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

func callAVX512(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if k == 0 {
		b = b[:1]
	}
	Sgemm12x32AVX512(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

func callAVX2Half(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if k == 0 {
		b = b[:1]
	}
	Sgemm6x8AVX2(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

func callAVX512Half(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if k == 0 {
		b = b[:1]
	}
	Sgemm12x16AVX512(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

// BenchmarkKernel times each micro-kernel on packed panels that sit in L1/L2
// (k = 256, the driver's KC), i.e. the kernel's own ceiling.
func BenchmarkKernel(b *testing.B) {
	for _, kern := range kernels {
		if kern.missing != "" || kern.name == "generic5x7" {
			continue
		}
		b.Run(kern.name, func(b *testing.B) {
			const k = 256
			const tiles = 24 // MC/MR-ish tiles against one B sliver
			mr, nr := kern.mr, kern.nr
			a := make([]float32, tiles*mr*k)
			bb := make([]float32, k*nr)
			c := make([]float32, tiles*mr*nr)
			for i := range a {
				a[i] = float32(i%7) * 0.1
			}
			for i := range bb {
				bb[i] = float32(i%5) * 0.1
			}
			b.ResetTimer()
			for range b.N {
				for t := 0; t < tiles; t++ {
					kern.fn(k, a[t*mr*k:], 1, mr, bb, nr, c[t*mr*nr:], nr, 1, 1)
				}
			}
			flops := 2 * float64(mr*nr*k*tiles) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func TestPeakFMA(t *testing.T) {
	if cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) {
		PeakFMAAVX2(1000)
	}
	if cpuid.CPU.Supports(cpuid.AVX512F) {
		PeakFMAAVX512(1000)
	}
}

func BenchmarkPeakFMA(b *testing.B) {
	run := func(name string, ok bool, fn func(int), flopsPerTrip float64) {
		b.Run(name, func(b *testing.B) {
			if !ok {
				b.Skip("CPU lacks it")
			}
			const trips = 1 << 20
			start := time.Now()
			for range b.N {
				fn(trips)
			}
			b.ReportMetric(flopsPerTrip*trips*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
	run("AVX2", cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3), PeakFMAAVX2, 192)
	run("AVX512", cpuid.CPU.Supports(cpuid.AVX512F), PeakFMAAVX512, 768)
}

func TestTranspose8AVX(t *testing.T) {
	if !cpuid.CPU.Supports(cpuid.AVX) {
		t.Skip("CPU lacks AVX")
	}
	for _, n := range []int{0, 8, 16, 64, 200} {
		for _, ldd := range []int{8, 16, 32, 13} {
			lds := n + 5
			src := make([]float32, 3+7*lds+n)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, 2+max(n-1, 0)*ldd+8+4)
			for i := range dst {
				dst[i] = canary
			}
			if n > 0 {
				Transpose8AVX(&dst[2], ldd, &src[3], lds, n)
			} else {
				Transpose8AVX(nil, ldd, nil, lds, 0)
			}
			for idx, v := range dst {
				c, i := (idx-2)/ldd, (idx-2)%ldd
				want := canary
				if idx >= 2 && c < n && i < 8 {
					want = src[3+i*lds+c]
				}
				if v != want {
					t.Fatalf("n=%d ldd=%d: dst[%d] = %g, want %g", n, ldd, idx, v, want)
				}
			}
		}
	}
}
